// The boiler desk: boiler alarms (water level, pressure, temperature, flame), off the 96333 board.
import { mountDesk } from "./desk-page.js";

export function mount(root, ctx) {
  mountDesk(root, ctx, "boiler");
}
