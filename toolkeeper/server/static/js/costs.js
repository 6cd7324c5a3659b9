// The costs page: its report re-rendered by the server every few seconds, while the tab is open.
import { keepFresh } from "./refresh.js";

const main = document.querySelector("main");
const every = Number(main.dataset.refreshSeconds) * 1000;
const refresh = keepFresh();
setInterval(refresh, every);
