// mime@3 ships no type declarations; Kiln uses only getType (the table @fastify/send uses).
declare module 'mime' {
  const mime: { getType(path: string): string | null };
  export default mime;
}
