/**
 * One partition of the FHIR Vault: Medplum's MemoryRepository with what HAPI FHIR JPA does
 * and the memory store does not: version ids 1, 2, 3... per resource, deletes that leave a
 * tombstone (read -> 410 Gone, history shows the delete), history at every level, and
 * transactions that roll back.
 */
import { gone, notFound, OperationOutcomeError } from '@medplum/core';
import type { WithId } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';

export interface HistoryRecord {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  method: 'POST' | 'PUT' | 'DELETE';
  /** The version as stored; absent for a delete. Never mutated. */
  resource?: Resource;
}

export interface HistoryFilter {
  resourceType?: string;
  id?: string;
  /** ISO instant: only versions updated at or after it. */
  since?: string;
}

/** The private stores of MemoryRepository, reached only to undo a failed transaction. */
interface MemoryStores {
  resources: Map<string, Map<string, Resource>>;
}

interface JournalEntry {
  key: string;
  resourceType: string;
  id: string;
  previous: Resource | undefined;
  previousVersion: number | undefined;
  wasDeleted: boolean;
}

export class VaultRepository extends MemoryRepository {
  readonly partition: string;
  private readonly versions = new Map<string, number>();
  private readonly tombstones = new Set<string>();
  private readonly log: HistoryRecord[] = [];
  private journal: JournalEntry[] | undefined;

  constructor(partition: string) {
    super();
    this.partition = partition;
  }

  override async createResource<T extends Resource>(resource: T): Promise<WithId<T>> {
    const id = resource.id ?? this.generateId();
    const key = `${resource.resourceType}/${id}`;
    const previousVersion = this.versions.get(key);
    const version = (previousVersion ?? 0) + 1;
    const existed = this.exists(resource.resourceType, id);
    this.remember(key, resource.resourceType, id, previousVersion);
    const stored = await super.createResource({
      ...resource,
      id,
      meta: { ...resource.meta, versionId: String(version), lastUpdated: new Date().toISOString() },
    });
    this.versions.set(key, version);
    this.tombstones.delete(key);
    this.log.push({
      resourceType: resource.resourceType,
      id,
      versionId: String(version),
      lastUpdated: stored.meta?.lastUpdated as string,
      method: existed || previousVersion !== undefined ? 'PUT' : 'POST',
      resource: JSON.parse(JSON.stringify(stored)) as Resource,
    });
    return stored;
  }

  override async readResource<T extends Resource>(resourceType: string, id: string): Promise<T> {
    if (this.tombstones.has(`${resourceType}/${id}`)) throw new OperationOutcomeError(gone);
    return super.readResource<T>(resourceType, id);
  }

  /** Deleting a deleted resource succeeds (as in HAPI); deleting an unknown one is 404. */
  override async deleteResource(resourceType: string, id: string): Promise<void> {
    const key = `${resourceType}/${id}`;
    if (this.tombstones.has(key)) return;
    if (!this.exists(resourceType, id)) throw new OperationOutcomeError(notFound);
    const previousVersion = this.versions.get(key);
    this.remember(key, resourceType, id, previousVersion);
    await super.deleteResource(resourceType, id);
    const version = (previousVersion ?? 0) + 1;
    this.versions.set(key, version);
    this.tombstones.add(key);
    this.log.push({ resourceType, id, versionId: String(version), lastUpdated: new Date().toISOString(), method: 'DELETE' });
  }

  override async readHistory<T extends Resource>(resourceType: string, id: string): Promise<Bundle<T>> {
    const records = this.versionHistory({ resourceType, id });
    if (records.length === 0) throw new OperationOutcomeError(notFound);
    return {
      resourceType: 'Bundle',
      type: 'history',
      entry: records.map((r) => ({ resource: r.resource as T | undefined })),
    };
  }

  override async readVersion<T extends Resource>(resourceType: string, id: string, versionId: string): Promise<T> {
    const record = this.log.find((r) => r.resourceType === resourceType && r.id === id && r.versionId === versionId);
    if (!record) throw new OperationOutcomeError(notFound);
    if (!record.resource) throw new OperationOutcomeError(gone);
    return JSON.parse(JSON.stringify(record.resource)) as T;
  }

  /** Versions, newest first. */
  versionHistory(filter: HistoryFilter = {}): HistoryRecord[] {
    const out: HistoryRecord[] = [];
    for (let i = this.log.length - 1; i >= 0; i--) {
      const r = this.log[i];
      if (filter.resourceType && r.resourceType !== filter.resourceType) continue;
      if (filter.id && r.id !== filter.id) continue;
      if (filter.since && r.lastUpdated < filter.since) continue;
      out.push(r);
    }
    return out;
  }

  exists(resourceType: string, id: string): boolean {
    return this.stores().resources.get(resourceType)?.has(id) ?? false;
  }

  isDeleted(resourceType: string, id: string): boolean {
    return this.tombstones.has(`${resourceType}/${id}`);
  }

  /** Every current resource of the partition (stored objects: callers must not mutate them). */
  *allResources(): Iterable<Resource> {
    for (const byId of this.stores().resources.values()) yield* byId.values();
  }

  /** Runs `callback` atomically: if it throws, every write it made is undone. */
  override async withTransaction<TResult>(callback: (client: undefined) => Promise<TResult>): Promise<TResult> {
    if (this.journal) return callback(undefined);
    const journal: JournalEntry[] = [];
    const logLength = this.log.length;
    this.journal = journal;
    try {
      const result = await callback(undefined);
      return result;
    } catch (err) {
      this.rollback(journal, logLength);
      throw err;
    } finally {
      this.journal = undefined;
    }
  }

  private remember(key: string, resourceType: string, id: string, previousVersion: number | undefined): void {
    if (!this.journal) return;
    const previous = this.stores().resources.get(resourceType)?.get(id);
    this.journal.push({ key, resourceType, id, previous, previousVersion, wasDeleted: this.tombstones.has(key) });
  }

  private rollback(journal: JournalEntry[], logLength: number): void {
    const resources = this.stores().resources;
    for (let i = journal.length - 1; i >= 0; i--) {
      const e = journal[i];
      let byId = resources.get(e.resourceType);
      if (!byId) {
        byId = new Map();
        resources.set(e.resourceType, byId);
      }
      if (e.previous) byId.set(e.id, e.previous);
      else byId.delete(e.id);
      if (e.previousVersion === undefined) this.versions.delete(e.key);
      else this.versions.set(e.key, e.previousVersion);
      if (e.wasDeleted) this.tombstones.add(e.key);
      else this.tombstones.delete(e.key);
    }
    this.log.length = logLength;
  }

  private stores(): MemoryStores {
    // MemoryRepository keeps its maps private; the sandbox needs to enumerate and restore them.
    return this as unknown as MemoryStores;
  }
}
