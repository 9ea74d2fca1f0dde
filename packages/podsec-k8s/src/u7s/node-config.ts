/** The node's u7s settings and every value derived from them (pure). */
import { UsageError } from '@podsec/core';
import type { PortSpec } from '@podsec/core/userns';
import { hostAddress, parseCidr, parseIPv4 } from './net.ts';

/** Role of the node: first control plane, further control plane, or worker. */
export type U7sRole = 'initMaster' | 'master' | '';

/** Inputs that describe a node. */
export interface U7sNodeInput {
  readonly role: U7sRole;
  /** The node's host IP (tap0 gets it inside the namespace). */
  readonly extIP?: string;
  /** @default '10.96.0.0/12' */
  readonly serviceCidr?: string;
  /** @default '10.244.0.0/16' */
  readonly podNetworkCidr?: string;
  /** @default 6443 */
  readonly apiserverBindPort?: number;
  /** Host address the forwards listen on. @default '0.0.0.0' */
  readonly parentIP?: string;
  /** @default 'flannel' */
  readonly cniPlugin?: 'flannel' | 'calico';
}

/** Derived values (the env file's keys). */
export interface U7sNode {
  readonly role: U7sRole;
  readonly extIP: string | undefined;
  readonly serviceCidr: string;
  readonly serviceCidrIP: string;
  readonly serviceMask: number;
  readonly kubernetesClusterIP: string;
  readonly kubernetesClusterDNS: string;
  readonly slirp4IP: string;
  readonly podNetworkCidr: string;
  readonly apiserverBindPort: number;
  readonly parentIP: string;
  readonly cniPlugin: 'flannel' | 'calico';
}

/** Pure: validates the inputs and derives every value. Throws `U7S_BAD_*` before anything happens. */
export function planNode(i: U7sNodeInput): U7sNode {
  const cni = i.cniPlugin ?? 'flannel';
  const svc = parseCidr(i.serviceCidr ?? '10.96.0.0/12', 'service CIDR');
  if (svc.bits > 24)
    throw new UsageError('U7S_CIDR_TOO_SMALL', `service CIDR ${svc.text} is smaller than /24`, {
      details: { value: svc.text },
    });
  const pod = parseCidr(
    i.podNetworkCidr ?? (cni === 'calico' ? '192.168.0.0/16' : '10.244.0.0/16'),
    'pod network CIDR',
  );
  if (i.extIP !== undefined && parseIPv4(i.extIP) === undefined)
    throw new UsageError('U7S_BAD_ADDRESS', `invalid node address "${i.extIP}"`, {
      details: { value: i.extIP },
    });
  const parentIP = i.parentIP ?? '0.0.0.0';
  if (parseIPv4(parentIP) === undefined)
    throw new UsageError('U7S_BAD_ADDRESS', `invalid listen address "${parentIP}"`, {
      details: { value: parentIP },
    });
  const port = i.apiserverBindPort ?? 6443;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError('U7S_BAD_PORT', `invalid API server port ${port}`, {
      details: { value: String(port) },
    });
  const slirp4IP = hostAddress(svc, 100);
  if (i.extIP !== undefined && i.extIP === slirp4IP)
    throw new UsageError(
      'U7S_BAD_ADDRESS',
      `the node address ${i.extIP} lies in the service CIDR`,
      {
        details: { value: i.extIP },
      },
    );
  return {
    role: i.role,
    extIP: i.extIP,
    serviceCidr: svc.text,
    serviceCidrIP: svc.text.split('/')[0]!,
    serviceMask: svc.bits,
    kubernetesClusterIP: hostAddress(svc, 1),
    kubernetesClusterDNS: hostAddress(svc, 10),
    slirp4IP,
    podNetworkCidr: pod.text,
    apiserverBindPort: port,
    parentIP,
    cniPlugin: cni,
  };
}

/** Pure: the forwards of spec'd node ports (host → namespace), the control-plane ones only for masters. */
export function planPorts(n: U7sNode): PortSpec[] {
  const p = (proto: 'tcp' | 'udp', parentPort: number, childPort = parentPort): PortSpec => ({
    proto,
    parentIP: n.parentIP,
    parentPort,
    childPort,
  });
  const out: PortSpec[] = [];
  if (n.role !== '') out.push(p('tcp', 2379), p('tcp', 2380), p('tcp', n.apiserverBindPort));
  out.push(p('tcp', 10250), p('tcp', 10255), p('tcp', 10256), p('udp', 8472), p('udp', 6053, 53));
  if (n.cniPlugin === 'calico') out.push(p('tcp', 5473), p('udp', 4789), p('udp', 51820));
  return out;
}
