/**
 * grpc.health.v1 on a server. Its own module: grpc-health-check loads a .proto parser at start
 * (~0.1 s), which the admin commands and other clients must not pay for.
 */
import type * as grpc from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';

/** Registers grpc.health.v1 with the given services SERVING; returns the state object. */
export function addHealth(server: grpc.Server, services: string[]): HealthImplementation {
  const status: ServingStatusMap = { '': 'SERVING' };
  for (const svc of services) status[svc] = 'SERVING';
  const health = new HealthImplementation(status);
  health.addToServer(server);
  return health;
}
