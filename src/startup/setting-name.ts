// The environment variable of a top-level setting; a leaf so that the start-up
// failure messages and the config loader share it without an import cycle.
/** The environment variable for a setting: `--data-dir` ↔ `KILN_DATA_DIR`. */
export function envName(setting: string): string {
  return `KILN_${setting.toUpperCase().replace(/-/g, '_')}`;
}
