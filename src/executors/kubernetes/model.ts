/** The documents the Kubernetes executor keeps: config snapshot, saved plan and Strata's state of the objects. */
import type { ResourceAction } from '../types';

/** A manifest as Strata handles it: plain JSON. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** Where one object lives. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export interface K8sConfigDocument {
  format: 'strata-k8s-config/1';
  stack: string;
  files: string[];
  /** Every object, labelled with the stack and environment, namespace filled in. */
  objects: Manifest[];
}

export interface K8sChange extends ObjectRef {
  address: string;
  action: ResourceAction;
}

export interface K8sPlanDocument {
  format: 'strata-k8s-plan/1';
  stack: string;
  environment: string;
  runId: string;
  destroy: boolean;
  config: { ref: string; digest: string };
  objects: Manifest[];
  changes: K8sChange[];
  /** Generation (else resourceVersion) of every object the plan looked at (null: absent): the apply refuses the plan if one moved. */
  baseline: Record<string, string | null>;
  stateSerial: number;
  stateLineage: string;
}

export interface K8sStateObject extends ObjectRef {
  address: string;
  uid?: string;
  resourceVersion?: string;
}

export interface K8sState {
  format: 'strata-k8s-state/1';
  serial: number;
  lineage: string;
  objects: K8sStateObject[];
  outputs: Record<string, unknown>;
  applying?: { planHash: string; runId: string };
}

/** An object's address in plans and state: `<kind>/<namespace>/<name>` (`<kind>/<name>` when cluster-scoped). */
export const addressOf = (o: ObjectRef): string =>
  o.namespace ? `${o.kind}/${o.namespace}/${o.name}` : `${o.kind}/${o.name}`;

export const STACK_LABEL = 'strata.dev/stack';
export const ENV_LABEL = 'strata.dev/environment';
/** The field manager of Strata's server-side applies. */
export const FIELD_MANAGER = 'strata';
