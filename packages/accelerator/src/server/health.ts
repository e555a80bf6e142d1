// grpc.health.v1.Health (Check, Watch, List): SERVING per service once the daemon serves,
// NOT_SERVING from the moment shutdown begins; Watch streams then end, so they do not hold
// the server's graceful shutdown for the whole grace period.

import type { Server, ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';

/** The services health reports on: `""` is the daemon as a whole. */
export const HEALTH_SERVICES: readonly string[] = ['', 'eais.v1.Accelerator', 'eais.v1.Fleet', 'inference.GRPCInferenceService'];

/** The health service of one daemon; needs no bind token or key (probes and load balancers call it). */
export class DaemonHealth {
  readonly #impl = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, 'NOT_SERVING'])));
  readonly #watches = new Set<ServerWritableStream<unknown, unknown>>();
  #stopping = false;

  /** Adds grpc.health.v1.Health to `server`, its Watch streams tracked for shutdown. */
  addTo(server: Server): void {
    this.#impl.addToServer({
      addService: (service, implementation: UntypedServiceImplementation) => {
        const watch = implementation.watch as (call: ServerWritableStream<unknown, unknown>) => void;
        server.addService(service, {
          ...implementation,
          watch: (call: ServerWritableStream<unknown, unknown>) => {
            watch(call);
            // A watch that starts while the daemon stops gets NOT_SERVING and its end at once.
            if (this.#stopping) {
              call.end();
              return;
            }
            this.#watches.add(call);
            call.once('cancelled', () => this.#watches.delete(call));
          },
        });
      },
    });
  }

  /** Every service SERVING (the daemon has started and serves). */
  serving(): void {
    this.#set('SERVING');
  }

  /** Every service NOT_SERVING (shutdown began), told to each watcher, whose stream then ends. */
  stopping(): void {
    this.#stopping = true;
    this.#set('NOT_SERVING');
    for (const call of this.#watches) call.end();
    this.#watches.clear();
  }

  #set(status: ServingStatus): void {
    for (const service of HEALTH_SERVICES) this.#impl.setStatus(service, status);
  }
}
