/** Typed search attribute keys; safe to import from workflow code (no I/O). */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from './constants';

export const StackKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.stack, SearchAttributeType.KEYWORD);
export const EnvironmentKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.environment, SearchAttributeType.KEYWORD);
export const StatusKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.status, SearchAttributeType.KEYWORD);
export const KindKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.kind, SearchAttributeType.KEYWORD);
export const RequestedByKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.requestedBy, SearchAttributeType.KEYWORD);
export const FailoverGroupKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.failoverGroup, SearchAttributeType.KEYWORD);

/** Every key Strata registers, for the dev server launcher and tests. */
export const ALL_SEARCH_ATTRIBUTE_KEYS = [
  StackKey,
  EnvironmentKey,
  StatusKey,
  KindKey,
  RequestedByKey,
  FailoverGroupKey,
];
