/**
 * Like Promise.all, but rejects only once every promise has settled, with
 * the first rejection: work started side by side is never left running
 * behind a failure (an undo must not race a command still under way).
 */
export async function settled<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
