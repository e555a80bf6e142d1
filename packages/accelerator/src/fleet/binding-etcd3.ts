// The one place that imports the etcd3 client, lazily, so a daemon without --etcd never loads it.

/** The etcd3 module. */
export type Etcd3Module = typeof import('etcd3');

/** Imports etcd3 on first call. */
export async function importEtcd3(): Promise<Etcd3Module> {
  const module = (await import('etcd3')) as Etcd3Module & { default?: Etcd3Module };
  return module.default ?? module;
}

export type { Etcd3, ICompare, IKeyValue, IOptions, IRangeResponse, IRequestOp, ITxnResponse } from 'etcd3';
