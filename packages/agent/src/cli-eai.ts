// `eais eai describe|create|delete|attach|detach`: the fleet's EAIs (slots) through the
// EAIS API (eais.v1.Fleet), named as the API names them.

import { attachAndSave, bindEnded, detachSaved } from './cli-bind.js';
import { eaisText } from './cli-eai-text.js';
import { endpointsOf, print, security, UsageError, type Values } from './cli-options.js';
import { createEai, deleteEai, describeEais, detachEai, type EaiInfo, type EaiPage } from './eai.js';

export const EAI_HELP = `eais eai: the fleet's EAIs (slots) through the EAIS API; any daemon of the fleet answers
for all of them (without --etcd, for its own)

Usage:
  eais eai describe [<eai id>…] [--eai-id <id>]… [--region <r>] [--zone <z>] [--state <s>] [--type <t>]
                    [--page-size <n>] [--page-token <token>] [--all]
                        EAIs in id order with their owner daemons; one page (--page-size, default 100)
                        unless --all, which reads every page (all at one registry revision)
  eais eai create --type <spec name> --zone <zone> [--region <r>]
                        open a Released EAI of that type in that zone again (on the daemon that has one)
  eais eai delete <eai id>
                        release an Available EAI: no longer billed nor bindable (refused when bound)
  eais eai attach [<eai id>] [--zone <z>] [--instance-id <id>] [--region <r>] [--lease <duration>]
                        bind this host to an EAI (that one, else any Available one of your region, your
                        zone first) on the daemon that owns it; saved like eais attach, so load, infer,
                        describe and detach go to the owner
  eais eai detach       end the saved bind (DetachEai on its owner) and remove it

--endpoint may name several daemons of the fleet (repeated, or comma-separated): the first that answers
serves the call. create and delete are sent on to the owner when another daemon answers. The common
options of eais --help apply.

describe prints a table on a terminal; otherwise one EAI a line, tab-separated, no header:
  EAI ID, TYPE, REGION, ZONE, STATE, BILLABLE (yes/no), DAEMON (owner's address), INSTANCE ('-' when none)
Without --all, a next page's token goes to stderr. --json prints {eais, nextPageToken, revision},
{eai} for create and delete.
`;

/** A whole number from 1 to 500, or undefined when the flag is absent. */
function pageSize(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 500) throw new UsageError(`--page-size must be a whole number from 1 to 500, not "${text}"`);
  return n;
}

/** The one EAI id a command names, as its argument or --eai-id; undefined when none and not `required`. */
function oneId(values: Values, positionals: string[], usage: string, required: boolean): string | undefined {
  const ids = [...positionals.slice(2), ...(values['eai-id'] ?? [])];
  if (ids.length > 1) throw new UsageError(`${usage} takes one EAI id, not ${ids.length} (${ids.join(', ')})`);
  if (ids.length === 0 && required) throw new UsageError(`${usage} needs an EAI id (eais-…); list them with eais eai describe`);
  return ids[0];
}

async function runDescribe(values: Values, positionals: string[]): Promise<void> {
  const query = {
    endpoints: endpointsOf(values),
    ...security(values),
    eaiIds: [...positionals.slice(2), ...(values['eai-id'] ?? [])],
    region: values.region,
    zone: values.zone,
    state: values.state,
    type: values.type,
    pageSize: pageSize(values['page-size']),
  };
  let listing: EaiPage = await describeEais({ ...query, pageToken: values['page-token'] });
  while (values.all === true && listing.nextPageToken !== undefined) {
    const token = listing.nextPageToken;
    const next = await describeEais({ ...query, pageToken: token });
    if (next.nextPageToken === token) throw new Error(`the daemon answered page token ${token} with the same token; the listing does not end`);
    listing = { eais: [...listing.eais, ...next.eais], nextPageToken: next.nextPageToken, revision: listing.revision };
  }
  print(values.json === true, listing, eaisText(listing.eais, process.stdout.isTTY === true));
  if (values.json !== true && listing.nextPageToken !== undefined) {
    process.stderr.write(`eais: more EAIs follow: run the same command with --page-token ${listing.nextPageToken} for the next page, or with --all for every page\n`);
  }
}

/** An EAI in one line: where it is, who owns it, its state. */
function eaiLine(e: EaiInfo): string {
  return `${e.eaiId} (${e.type}) in ${e.zone}, ${e.region} on daemon ${e.daemonId}${e.daemonAddress === '' ? '' : ` at ${e.daemonAddress}`}: ${e.state}${e.billable ? ', billable' : ', not billed'}`;
}

async function runCreate(values: Values): Promise<void> {
  const { type, zone } = values;
  if (type === undefined || zone === undefined) throw new UsageError('eais eai create needs --type <spec name, e.g. eais.ei-a6.2xlarge> and --zone <zone>');
  const eai = await createEai({ endpoints: endpointsOf(values), ...security(values), type, zone, region: values.region });
  print(values.json === true, { eai }, `created ${eaiLine(eai)}\n`);
}

async function runDelete(values: Values, positionals: string[]): Promise<void> {
  const eaiId = oneId(values, positionals, 'eais eai delete', true) as string;
  const eai = await deleteEai({ endpoints: endpointsOf(values), ...security(values), eaiId });
  print(
    values.json === true,
    { eai },
    `deleted ${eaiLine(eai)}\nno longer bindable; eais eai create --type ${eai.type} --zone ${eai.zone} opens it again\n`,
  );
}

async function runAttach(values: Values, positionals: string[]): Promise<void> {
  const endpoints = endpointsOf(values);
  await attachAndSave(values, endpoints, { endpoints, zone: values.zone, slotId: oneId(values, positionals, 'eais eai attach', false) });
}

async function runDetach(values: Values): Promise<void> {
  await detachSaved(values, endpointsOf(values), async (state) => {
    try {
      await detachEai({ endpoint: state.endpoint, token: state.token, eaiId: state.slot.id, ...security(values) });
    } catch (err) {
      // A bind that already ended on the daemon (lease expiry) counts as detached.
      if (!bindEnded(err)) throw err;
    }
  });
}

/** Runs `eais eai <command>`; a UsageError with this usage for a missing or unknown one. */
export async function runEai(values: Values, positionals: string[]): Promise<void> {
  const command = positionals[1];
  const commands: Record<string, () => Promise<void>> = {
    describe: () => runDescribe(values, positionals),
    create: () => runCreate(values),
    delete: () => runDelete(values, positionals),
    attach: () => runAttach(values, positionals),
    detach: () => runDetach(values),
  };
  const run = command !== undefined && Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (run === undefined) {
    const what = command === undefined ? 'eais eai needs a command' : `unknown eai command "${command}"`;
    throw new UsageError(`${what}; the eai commands are ${Object.keys(commands).join(', ')}`, EAI_HELP);
  }
  await run();
}
