/**
 * The strata.yaml entry of a `provider: kubernetes` failover group: the shipped example is valid, paths are
 * resolved against the config's directory, and every mistake is refused with a message naming the field.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig, parseConfig } from '../../src/shared/config';

const EXAMPLE = path.resolve(__dirname, '../../docs/examples/strata.kubernetes-failover.yaml');

const cluster = { server: 'https://k8s.example:6443', caFile: 'ca.pem', tokenEnv: 'K8S_TOKEN' };
const valid = () => ({
  provider: 'kubernetes',
  primary: { region: 'eu-west-1', kubernetes: { ...cluster } },
  secondary: { region: 'eu-central-1', kubernetes: { kubeconfig: 'k.yaml' } },
  kubernetes: { namespaces: ['shop'], selector: 'app=shop' },
});

/** The messages parseConfig refuses `group` with (empty when it is accepted). */
function problems(group: unknown): string[] {
  try {
    parseConfig({ environments: {}, stacks: {}, failoverGroups: { shop: group } }, '/etc/strata', {});
    return [];
  } catch (err) {
    return (err as { details?: string[] }).details ?? [(err as Error).message];
  }
}

describe('kubernetes failover group configuration', () => {
  it('accepts the shipped example and resolves its files against the config directory', () => {
    const raw = YAML.parse(fs.readFileSync(EXAMPLE, 'utf8'));
    const cfg = parseConfig(raw, '/etc/strata', {});
    const g = cfg.failoverGroups.shop;
    expect(g.provider).toBe('kubernetes');
    expect(g.primary.kubernetes?.caFile).toBe('/etc/strata/secrets/k8s-west-ca.pem');
    expect(g.secondary.kubernetes?.kubeconfig).toBe('/etc/strata/secrets/k8s-central.kubeconfig');
    expect(g.kubernetes?.routing?.virtualService.clusters).toEqual(['primary', 'secondary']);
    expect(g.kubernetes?.replicationTimeout).toBe('5m');
  });

  it('leaves the shipped strata.yaml groups (simulated, aws) valid and without a kubernetes section', () => {
    const cfg = loadConfig(path.resolve(__dirname, '../../strata.yaml'), { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' });
    expect(Object.values(cfg.failoverGroups).map((g) => [g.provider, g.kubernetes])).toEqual([
      ['simulated', undefined],
      ['aws', undefined],
    ]);
  });

  it('accepts the minimal form and defaults the routing clusters and the replication timeout', () => {
    expect(problems(valid())).toEqual([]);
  });

  it.each([
    [
      'no kubernetes section',
      (g: any) => delete g.kubernetes,
      /^failoverGroups\.shop\.kubernetes: provider: kubernetes needs/,
    ],
    [
      'a side without a cluster',
      (g: any) => delete g.secondary.kubernetes,
      /^failoverGroups\.shop\.secondary\.kubernetes: .*secondary's cluster/,
    ],
    [
      'server and kubeconfig both',
      (g: any) => (g.primary.kubernetes.kubeconfig = 'k'),
      /primary\.kubernetes: give exactly one of server .* or kubeconfig/,
    ],
    [
      'a server without a token',
      (g: any) => delete g.primary.kubernetes.tokenEnv,
      /primary\.kubernetes: a server needs exactly one of tokenFile or tokenEnv/,
    ],
    [
      'an inline token',
      (g: any) => (g.primary.kubernetes.token = 'abc'),
      /primary\.kubernetes: Unrecognized key: "token"/,
    ],
    [
      'a server that is no URL',
      (g: any) => (g.primary.kubernetes.server = 'k8s-west'),
      /primary\.kubernetes\.server: expected the https:\/\/ URL/,
    ],
    [
      'selector and objects both',
      (g: any) => (g.kubernetes.objects = { Deployment: ['shop/web'] }),
      /kubernetes: give exactly one of selector .* or objects/,
    ],
    [
      'a selector without namespaces',
      (g: any) => delete g.kubernetes.namespaces,
      /kubernetes: a selector needs namespaces/,
    ],
    [
      'an object named without namespace',
      (g: any) => {
        delete g.kubernetes.selector;
        delete g.kubernetes.namespaces;
        g.kubernetes.objects = { Deployment: ['web'] };
      },
      /kubernetes\.objects\.Deployment\.0: expected namespace\/name/,
    ],
    ['an unknown kind', (g: any) => (g.kubernetes.kinds = ['Pod']), /kubernetes\.kinds\.0: Invalid option/],
    [
      'a VirtualService without hosts',
      (g: any) => (g.kubernetes.routing = { virtualService: { name: 'shop/shop' } }),
      /kubernetes\.routing\.virtualService\.hosts: /,
    ],
    [
      'kubernetes on an aws group',
      (g: any) => (g.provider = 'aws'),
      /^failoverGroups\.shop\.kubernetes: only for provider: kubernetes/,
    ],
  ])('refuses %s with a message naming the field', (_what, mutate, message) => {
    const g = valid();
    mutate(g);
    const found = problems(g);
    expect(found).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });
});
