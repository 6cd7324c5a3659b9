// The configuration page: say so at once when the tool being edited gets a new version elsewhere.
import { connect } from "./live.js";

const main = document.querySelector("main");
const notice = document.querySelector("[data-config-notice]");
const { base, configTool: tool, configEnvironment: environment } = main.dataset;
const shown = Number(main.dataset.configVersion);

// A form sent back with errors is shown at the POST-only preview address; put the page's own
// address in the bar, so reloading or sharing it shows the configuration page, not an error.
if (main.dataset.configUrl && window.location.pathname.endsWith("/preview")) {
  window.history.replaceState(null, "", main.dataset.configUrl);
}

if (tool && notice) {
  connect(base, {
    config(entry) {
      if (entry.tool !== tool || entry.environment !== environment || entry.version <= shown) return;
      notice.hidden = false;
      notice.textContent = `${tool} changed to version ${entry.version} by ${entry.actor} ` +
        `(${entry.source}: “${entry.reason}”) while this page was open. Saving from this form ` +
        "will be refused; reload to edit the current values.";
    },
  });
}
