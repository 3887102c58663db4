/**
 * A minimal storage adapter for the sandbox's oidc-provider. The sandbox issues only
 * client_credentials JWTs (nothing to look up later), so a per-instance Map with expiry is
 * all it needs; having our own adapter also keeps oidc-provider from warning about its
 * development adapter on every start.
 */

type Payload = Record<string, unknown>;

interface Entry {
  payload: Payload;
  expiresAt: number;
}

export function memoryAdapterFactory(): (modelName: string) => MemoryAdapter {
  const stores = new Map<string, Map<string, Entry>>();
  return (modelName: string) => {
    let store = stores.get(modelName);
    if (!store) {
      store = new Map();
      stores.set(modelName, store);
    }
    return new MemoryAdapter(store);
  };
}

export class MemoryAdapter {
  constructor(private readonly store: Map<string, Entry>) {}

  async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload, expiresAt });
  }

  async find(id: string): Promise<Payload | undefined> {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid: string): Promise<Payload | undefined> {
    return this.findWhere((p) => p.uid === uid);
  }

  async findByUserCode(userCode: string): Promise<Payload | undefined> {
    return this.findWhere((p) => p.userCode === userCode);
  }

  async consume(id: string): Promise<void> {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [id, entry] of this.store) {
      if (entry.payload.grantId === grantId) this.store.delete(id);
    }
  }

  private async findWhere(predicate: (payload: Payload) => boolean): Promise<Payload | undefined> {
    for (const [id] of this.store) {
      const payload = await this.find(id);
      if (payload && predicate(payload)) return payload;
    }
    return undefined;
  }
}
