// The fleet's slots ("EAIs") through the EAIS API (eais.v1.Fleet) in app-facing shapes:
// describe, create, delete and detach, as the CLI's `eais eai` commands use them.

import { createError, EaisError, type DescribeEaisResponse, type EaiMessage, type EaiResponse, type SlotState } from '@eais/shared';
import { fleetUnary, ownerEndpoint } from './fleet-call.js';
import type { SecurityOptions } from './security.js';

const DEADLINE_MS = 10_000;

/** One EAI of the fleet, and the daemon that owns it. */
export interface EaiInfo {
  /** The slot id, eais-…. */
  readonly eaiId: string;
  /** The spec name, e.g. eais.ei-a6.2xlarge. */
  readonly type: string;
  readonly region: string;
  readonly zone: string;
  readonly state: SlotState;
  readonly billable: boolean;
  readonly daemonId: string;
  /** Where clients reach the owner (host:port). */
  readonly daemonAddress: string;
  /** The client instance bound to it; undefined when none. */
  readonly instanceId: string | undefined;
  readonly spec: { readonly name: string; readonly fp32Tflops: number; readonly fp16Tflops: number; readonly memoryBytes: number } | undefined;
}

/** One page of {@link describeEais}. */
export interface EaiPage {
  readonly eais: readonly EaiInfo[];
  /** Pass as `pageToken` for the next page; undefined on the last one. */
  readonly nextPageToken: string | undefined;
  /** The registry revision every page of this listing reads at. */
  readonly revision: number;
}

/** Where the calls go: any daemons of the fleet (the first that answers serves), and how. */
export interface EaiCallOptions extends SecurityOptions {
  readonly endpoints: readonly string[];
  readonly deadlineMs?: number | undefined;
}

/** The filters and page of {@link describeEais}; every filter given must match. */
export interface DescribeEaisOptions extends EaiCallOptions {
  /** At most 200. */
  readonly eaiIds?: readonly string[] | undefined;
  readonly region?: string | undefined;
  readonly zone?: string | undefined;
  readonly state?: string | undefined;
  readonly type?: string | undefined;
  /** 1 to 500; the daemon's default (100) when undefined. */
  readonly pageSize?: number | undefined;
  readonly pageToken?: string | undefined;
}

export function eaiInfo(m: EaiMessage): EaiInfo {
  return {
    eaiId: m.eai_id,
    type: m.type,
    region: m.region,
    zone: m.zone,
    state: m.state as SlotState,
    billable: m.billable,
    daemonId: m.daemon_id,
    daemonAddress: m.daemon_address,
    instanceId: m.instance_id === '' ? undefined : m.instance_id,
    spec: m.spec === null ? undefined : { name: m.spec.name, fp32Tflops: m.spec.fp32_tflops, fp16Tflops: m.spec.fp16_tflops, memoryBytes: m.spec.memory_bytes },
  };
}

/**
 * One page of the fleet's EAIs in id order (DescribeEais). INVALID_ARGUMENT for more than
 * 200 ids, a page size above 500, an unknown state, or a page token of another query or too old.
 */
export async function describeEais(options: DescribeEaisOptions): Promise<EaiPage> {
  const response = await fleetUnary<DescribeEaisResponse>(options.endpoints, options, {
    method: 'DescribeEais',
    request: {
      eai_ids: options.eaiIds ?? [],
      region: options.region ?? '',
      zone: options.zone ?? '',
      state: options.state ?? '',
      type: options.type ?? '',
      page_size: options.pageSize ?? 0,
      page_token: options.pageToken ?? '',
    },
    deadlineMs: options.deadlineMs ?? DEADLINE_MS,
  });
  return { eais: response.eais.map(eaiInfo), nextPageToken: response.next_page_token === '' ? undefined : response.next_page_token, revision: response.revision };
}

/**
 * A call that only the EAI's owner serves, on the endpoints; when it reaches another
 * daemon (SLOT_ELSEWHERE), made again once on the owner the fleet lists for that EAI.
 */
async function onOwner(options: EaiCallOptions, method: string, request: unknown): Promise<EaiInfo> {
  const deadlineMs = options.deadlineMs ?? DEADLINE_MS;
  const answer = (endpoints: readonly string[]): Promise<EaiInfo> =>
    fleetUnary<EaiResponse>(endpoints, options, { method, request, deadlineMs }).then((r) => {
      if (r.eai === null) throw createError('INTERNAL', `the daemon answered ${method} without an EAI`);
      return eaiInfo(r.eai);
    });
  try {
    return await answer(options.endpoints);
  } catch (err) {
    if (!(err instanceof EaisError && err.reason === 'SLOT_ELSEWHERE' && err.slotId !== undefined)) throw err;
    const listed = await describeEais({ ...options, eaiIds: [err.slotId] }).catch(() => undefined);
    const owner = listed?.eais[0]?.daemonAddress;
    if (owner === undefined || owner === '') throw err;
    const endpoint = ownerEndpoint(owner, options.endpoints);
    if (options.endpoints.includes(endpoint)) throw err;
    return answer([endpoint]);
  }
}

/**
 * Re-opens a Released EAI of `type` in `zone` (v1: the daemons' --slot flags), on the
 * daemon that has one. RESOURCE_EXHAUSTED NO_ROOM when no daemon in the zone has one.
 */
export function createEai(options: EaiCallOptions & { readonly type: string; readonly zone: string; readonly region?: string | undefined }): Promise<EaiInfo> {
  return onOwner(options, 'CreateEai', { type: options.type, region: options.region ?? '', zone: options.zone });
}

/**
 * Releases an Available EAI, on its owner (→ Released: no longer billed nor bindable).
 * FAILED_PRECONDITION SLOT_IN_USE for a bound one; NOT_FOUND SLOT_NOT_FOUND.
 */
export function deleteEai(options: EaiCallOptions & { readonly eaiId: string }): Promise<EaiInfo> {
  return onOwner(options, 'DeleteEai', { eai_id: options.eaiId });
}

/**
 * Ends the bind `token` authorizes with DetachEai on `endpoint` (its owner); `eaiId`, when
 * given, is checked against the bind. Resolves with the EAI's id. TOKEN_REVOKED or
 * TOKEN_UNKNOWN when the bind has ended already; SLOT_ELSEWHERE when another daemon owns it.
 */
export async function detachEai(options: SecurityOptions & { readonly endpoint: string; readonly token: string; readonly eaiId?: string | undefined; readonly deadlineMs?: number | undefined }): Promise<string> {
  const response = await fleetUnary<{ eai_id: string }>([options.endpoint], options, {
    method: 'DetachEai',
    request: { eai_id: options.eaiId ?? '' },
    token: options.token,
    deadlineMs: options.deadlineMs ?? DEADLINE_MS,
  });
  return response.eai_id;
}
