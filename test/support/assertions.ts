/** Assertions shared by the library tests. */
import { strict as assert } from 'node:assert';
import { CaraError } from '../../src/errors';

/** The CaraError a promise rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<CaraError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CaraError, `expected a CaraError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}
