// The IoT view: connectivity (offline, 数据中断), off the 96333 board.
import { mountDesk } from "./desk-page.js";

export function mount(root, ctx) {
  mountDesk(root, ctx, "iot");
}
