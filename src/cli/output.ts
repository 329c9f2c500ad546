/** Where a command writes: stdout for results, stderr for messages. Injected so tests can capture. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
};

/** Prints `value` as JSON when asked, else the human form. */
export function emit(o: Output, json: boolean | undefined, value: unknown, human: () => string): void {
  o.out(json ? JSON.stringify(value, null, 2) : human());
}
