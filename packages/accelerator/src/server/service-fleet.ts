// eais.v1.Fleet handlers: the EAIS API over the fleet registry (describe, attach, detach,
// create, delete). Attach picks slots and names their owners; the owner's
// Accelerator.Attach binds (fleet-wide, one-to-one). Detach, create and delete act on
// this daemon's slots and name the owner of any other.

import {
  BILLABLE,
  clip,
  createError,
  SLOT_STATES,
  type AttachEaiRequest,
  type AttachEaiResponse,
  type CreateEaiRequest,
  type DescribeEaisRequest,
  type DescribeEaisResponse,
  type EaiMessage,
  type EaiResponse,
  type SlotState,
} from '@eais/shared';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { DaemonRecord, ListedSlot } from '../fleet/registry.js';
import { MAX_LIST_IDS, MAX_PAGE_SIZE } from '../fleet/registry.js';
import { BIND_STATES, FreeSlotReads, orderFor } from './attach-candidates.js';
import type { CallEdge } from './call-edge.js';
import { unary } from './call-edge-grpc.js';
import { authorize, type DaemonCore } from './daemon-core.js';

/** Most candidates AttachEai answers with. */
const MAX_CANDIDATES = 16;

/** A listed slot as the API shows it, with its owner's address. */
function eaiMessage(slot: ListedSlot, daemons: ReadonlyMap<string, DaemonRecord>): EaiMessage {
  return {
    eai_id: slot.slotId,
    type: slot.spec.name,
    region: slot.region,
    zone: slot.zone,
    state: slot.state,
    billable: BILLABLE[slot.state],
    daemon_id: slot.daemonId,
    daemon_address: daemons.get(slot.daemonId)?.address ?? '',
    instance_id: slot.bind?.instanceId ?? '',
    spec: { name: slot.spec.name, fp32_tflops: slot.spec.fp32Tflops, fp16_tflops: slot.spec.fp16Tflops, memory_bytes: slot.spec.memoryBytes },
  };
}

function checkState(state: string): SlotState | undefined {
  if (state === '') return undefined;
  if (!(SLOT_STATES as readonly string[]).includes(state)) throw createError('BAD_REQUEST', `state "${clip(state)}" is not one of ${SLOT_STATES.join(', ')}`);
  return state as SlotState;
}

/** Handlers of the eais.v1.Fleet service. */
export function fleetService(core: DaemonCore, edge: CallEdge): UntypedServiceImplementation {
  const { fleet } = core;
  const freeSlots = new FreeSlotReads(fleet);
  const daemonsById = async (): Promise<Map<string, DaemonRecord>> => new Map((await fleet.listDaemons()).map((d) => [d.daemonId, d]));

  /** One slot of the fleet with its owner's address; NOT_FOUND SLOT_NOT_FOUND when no daemon has it. */
  const findEai = async (id: string): Promise<EaiMessage> => {
    if (id === '') throw createError('BAD_REQUEST', 'eai_id is empty: name the EAI (eais-…)');
    const [page, daemons] = await Promise.all([fleet.listSlots({ ids: [id] }), daemonsById()]);
    const slot = page.slots[0];
    if (slot === undefined) throw createError('SLOT_NOT_FOUND', `no EAI ${clip(id)} in the fleet; list them with DescribeEais`, { slotId: id });
    return eaiMessage(slot, daemons);
  };

  /** The slot of this daemon; SLOT_ELSEWHERE naming the owner when another daemon has it. */
  const localOrElsewhere = async (id: string, what: string) => {
    const slot = fleet.localSlot(id);
    if (slot !== undefined) return slot;
    const eai = await findEai(id);
    throw createError('SLOT_ELSEWHERE', `EAI ${eai.eai_id} is on daemon ${eai.daemon_id} at ${eai.daemon_address}; call ${what} there`, { slotId: eai.eai_id });
  };

  const localMessage = async (id: string): Promise<EaiMessage> => {
    const slot = fleet.localSlot(id);
    const eai = await findEai(id).catch(() => undefined);
    if (eai !== undefined) return eai;
    // Not listed (say, the registry put is still on its way): this daemon's own view.
    return {
      eai_id: id,
      type: slot?.spec.name ?? '',
      region: fleet.region,
      zone: fleet.zone,
      state: slot?.state ?? '',
      billable: slot !== undefined && BILLABLE[slot.state],
      daemon_id: fleet.daemonId,
      daemon_address: '',
      instance_id: '',
      spec: null,
    };
  };

  return {
    DescribeEais: unary<DescribeEaisRequest, DescribeEaisResponse>(edge, 'DescribeEais', async (request) => {
      if (request.eai_ids.length > MAX_LIST_IDS) {
        throw createError('BAD_REQUEST', `eai_ids has ${request.eai_ids.length} ids; at most ${MAX_LIST_IDS} a call: split the list`);
      }
      if (request.page_size > MAX_PAGE_SIZE) throw createError('BAD_REQUEST', `page_size ${request.page_size} is above ${MAX_PAGE_SIZE}`);
      const [page, daemons] = await Promise.all([
        fleet.listSlots({
          ids: request.eai_ids.length === 0 ? undefined : request.eai_ids,
          region: request.region || undefined,
          zone: request.zone || undefined,
          state: checkState(request.state),
          type: request.type || undefined,
          pageSize: request.page_size || undefined,
          pageToken: request.page_token || undefined,
        }),
        daemonsById(),
      ]);
      return { eais: page.slots.map((s) => eaiMessage(s, daemons)), next_page_token: page.nextPageToken ?? '', revision: page.revision };
    }),

    AttachEai: unary<AttachEaiRequest, AttachEaiResponse>(edge, 'AttachEai', async (request, context) => {
      core.admit(context.credentials);
      const client = request.client;
      if (client === null || client.region === '') throw createError('BAD_REQUEST', 'AttachEai needs client: instance_id, region, vcpus and memory_bytes');
      if (request.eai_id !== '') {
        const eai = await findEai(request.eai_id);
        if (eai.region !== client.region) {
          throw createError('REGION_MISMATCH', `EAI ${eai.eai_id} is in region ${eai.region}, the client in ${clip(client.region)}; pick an EAI of your region`, { slotId: eai.eai_id });
        }
        // The registry's bind is the truth; the slot's state there follows its daemon's a moment
        // later (a detach answers before InUse, Detaching and Available are put), so a state
        // that a bind passes through, with no bind recorded, is left to the owner's Attach.
        if (eai.instance_id !== '' || !BIND_STATES.has(eai.state)) {
          throw createError('SLOT_BUSY', `EAI ${eai.eai_id} is ${eai.instance_id === '' ? eai.state : 'bound to another client instance'}; pick another or omit the id`, { slotId: eai.eai_id });
        }
        return { candidates: [eai] };
      }
      const { slots, daemons } = await freeSlots.read(client.region);
      const ordered = orderFor(slots, request.zone, client.instance_id);
      if (ordered.length === 0) {
        throw createError('NO_SLOT_AVAILABLE', `no Available EAI in region ${clip(client.region)} across the fleet; wait for a detach, or CreateEai`);
      }
      return { candidates: ordered.slice(0, MAX_CANDIDATES).map((s) => eaiMessage(s, daemons)) };
    }),

    DetachEai: unary<{ eai_id: string }, { eai_id: string }>(edge, 'DetachEai', async (request, context) => {
      if (request.eai_id !== '' && fleet.localSlot(request.eai_id) === undefined) await localOrElsewhere(request.eai_id, 'DetachEai');
      const bind = authorize(core, context);
      if (request.eai_id !== '' && bind.slot.id !== request.eai_id) {
        throw createError('TOKEN_WRONG_SLOT', `the bind token is for EAI ${bind.slot.id}, not ${clip(request.eai_id)}`, { slotId: bind.slot.id });
      }
      await core.binds.detachReleased(bind, 'the client detached (DetachEai)');
      return { eai_id: bind.slot.id };
    }),

    CreateEai: unary<CreateEaiRequest, EaiResponse>(edge, 'CreateEai', async (request, context) => {
      core.admit(context.credentials);
      if (request.type === '' || request.zone === '') throw createError('BAD_REQUEST', 'CreateEai needs type (e.g. eais.ei-a6.2xlarge) and zone');
      const region = request.region || fleet.region;
      const here = fleet.localSlots.find((s) => s.state === 'Released' && s.spec.name === request.type && s.region === region && s.zone === request.zone);
      if (here !== undefined) {
        await fleet.reopenSlot(here);
        return { eai: await localMessage(here.id) };
      }
      const [page, daemons] = await Promise.all([
        fleet.listSlots({ region, zone: request.zone, state: 'Released', type: request.type, pageSize: 1 }),
        daemonsById(),
      ]);
      const there = page.slots[0];
      if (there !== undefined) {
        const owner = daemons.get(there.daemonId);
        throw createError('SLOT_ELSEWHERE', `daemon ${there.daemonId} at ${owner?.address ?? '?'} has room for ${request.type} in ${request.zone}; call CreateEai there`, {
          slotId: there.slotId,
        });
      }
      throw createError('NO_ROOM', `no daemon in zone ${clip(request.zone)} (region ${clip(region)}) has room for an EAI of type ${clip(request.type)}; delete one there first or pick another zone`);
    }),

    DeleteEai: unary<{ eai_id: string }, EaiResponse>(edge, 'DeleteEai', async (request, context) => {
      core.admit(context.credentials);
      if (request.eai_id === '') throw createError('BAD_REQUEST', 'eai_id is empty: name the EAI to delete (eais-…)');
      const slot = await localOrElsewhere(request.eai_id, 'DeleteEai');
      context.setSlot(slot.id);
      await fleet.deleteSlot(slot);
      return { eai: await localMessage(slot.id) };
    }),
  };
}
