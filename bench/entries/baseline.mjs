// Start-up floor: what a dynamic import of almost nothing costs on the machine.
export const ready = true;
