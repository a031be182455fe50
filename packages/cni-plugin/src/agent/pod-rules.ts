// Decide: the nftables rules that capture a pod's traffic, as `nft -f` scripts. Pure text, so the
// rules are table-tested; run-nft.ts executes them inside the pod's netns.
//
// One dedicated table, `inet ambit` (IPv4 and IPv6), in the pod's own netns. Each script first
// creates and then deletes the table before writing it whole, all in one nft transaction: applying
// it twice leaves exactly one copy, and a failure leaves the previous state untouched.
//
// Reply routing (so that ztunnel can connect to the app with the client's address, IP_TRANSPARENT):
// the table also marks ztunnel's connections to the app (ct mark) and the app's packets on them
// (meta mark); a policy-routing rule sends marked packets to a table whose only route is `local`,
// so the app's replies to the client's (non-local) address come back to ztunnel instead of leaving
// by eth0. `ip rule`/`ip route` are not nft: replyRoutingCommands lists them, each with the error
// that means "already so" (run-ip.ts), so adding and removing them is idempotent too.

/** ztunnel marks its own sockets in the pod netns with this SO_MARK; the rules let them through. */
export const ZTUNNEL_MARK = 0x539;
export const OUTBOUND_CAPTURE_PORT = 15001;
export const INBOUND_PLAINTEXT_PORT = 15006;
export const HBONE_PORT = 15008;
/** The node SNATs kubelet probes to these link-local addresses; pod rules let them reach the app. */
export const PROBE_SOURCE_IPV4 = '169.254.7.127';
export const PROBE_SOURCE_IPV6 = 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff';
export const POD_TABLE = 'ambit';
/** Connection mark of ztunnel → app connections; also the packet mark the reply rule matches. */
export const REPLY_MARK = 0x111;
/** Routing table (in the pod netns) holding the `local` route for marked replies. */
export const REPLY_ROUTE_TABLE = 100;
/** Priority of the `ip rule` (before `main` at 32766); fixed so a second add is "File exists". */
export const REPLY_RULE_PRIORITY = 32764;
export const NODE_TABLE = 'ambit-node';

const hex = `0x${ZTUNNEL_MARK.toString(16)}`;
const replyHex = `0x${REPLY_MARK.toString(16)}`;

/** Installs (or replaces) the capture rules of one pod netns. */
export function podRulesScript(): string {
  return `table inet ${POD_TABLE}
delete table inet ${POD_TABLE}
table inet ${POD_TABLE} {
  chain inbound {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "lo" return
    meta l4proto != tcp return
    ip saddr ${PROBE_SOURCE_IPV4} counter return comment "kubelet probe"
    ip6 saddr ${PROBE_SOURCE_IPV6} counter return comment "kubelet probe"
    tcp dport ${HBONE_PORT} return comment "HBONE to ztunnel"
    meta l4proto tcp counter redirect to :${INBOUND_PLAINTEXT_PORT} comment "inbound plaintext to ztunnel"
  }
  chain outbound {
    type nat hook output priority -100; policy accept;
    meta l4proto != tcp return
    meta mark ${hex} counter return comment "ztunnel's own sockets"
    oifname "lo" return
    ip daddr 127.0.0.0/8 return
    ip6 daddr ::1 return
    meta l4proto tcp counter redirect to :${OUTBOUND_CAPTURE_PORT} comment "outbound to ztunnel"
  }
  chain reply_mark_in {
    type filter hook prerouting priority mangle; policy accept;
    meta mark ${hex} ct mark set ${replyHex} comment "ztunnel's connections to the app"
  }
  chain reply_mark_out {
    type route hook output priority mangle; policy accept;
    ct mark ${replyHex} meta mark set ${replyHex} comment "the app's replies route back to ztunnel"
  }
}
`;
}

/** One `ip` invocation in the pod netns; `done` is the error (stderr) that means "already so". */
export interface IpCommand {
  args: readonly string[];
  done: RegExp;
}

const EXISTS = /File exists/;
/** Absent already (rule or route), or a family the kernel does not have. */
const ABSENT =
  /No such file or directory|No such process|FIB table does not exist|Address family not supported/;

function familiesOf(podIps: readonly string[]): ('-4' | '-6')[] {
  const v6 = podIps.some((ip) => ip.includes(':'));
  return v6 ? ['-4', '-6'] : ['-4'];
}

/**
 * Adds the reply routing, per IP family of the pod: the `local` route first, then the rule (a rule
 * without its route would send marked packets nowhere). Both are harmless without the nft marks.
 */
export function replyRoutingCommands(podIps: readonly string[]): IpCommand[] {
  return familiesOf(podIps).flatMap((f): IpCommand[] => [
    {
      args: [
        f,
        'route',
        'replace',
        'local',
        f === '-4' ? '0.0.0.0/0' : '::/0',
        'dev',
        'lo',
        'table',
        String(REPLY_ROUTE_TABLE),
      ],
      done: EXISTS,
    },
    {
      args: [
        f,
        'rule',
        'add',
        'fwmark',
        replyHex,
        'lookup',
        String(REPLY_ROUTE_TABLE),
        'priority',
        String(REPLY_RULE_PRIORITY),
      ],
      done: EXISTS,
    },
  ]);
}

/** Removes the reply routing (both families: the pod's IPs may not be known); absent is fine. */
export function removeReplyRoutingCommands(): IpCommand[] {
  return (['-4', '-6'] as const).flatMap((f): IpCommand[] => [
    {
      args: [
        f,
        'rule',
        'del',
        'fwmark',
        replyHex,
        'lookup',
        String(REPLY_ROUTE_TABLE),
        'priority',
        String(REPLY_RULE_PRIORITY),
      ],
      done: ABSENT,
    },
    {
      args: [
        f,
        'route',
        'del',
        'local',
        f === '-4' ? '0.0.0.0/0' : '::/0',
        'dev',
        'lo',
        'table',
        String(REPLY_ROUTE_TABLE),
      ],
      done: ABSENT,
    },
  ]);
}

/** Removes a pod's capture rules; succeeds when there are none. */
export function removePodRulesScript(): string {
  return `table inet ${POD_TABLE}\ndelete table inet ${POD_TABLE}\n`;
}

/**
 * The node side of the probe exemption: TCP the node itself originates (kubelet probes; `fib saddr
 * type local` matches packets whose source is a node address) towards a captured pod is SNATed to
 * the link-local probe address, which the pod rules let through. Only captured pods' IPs are in the
 * sets, so traffic to other pods keeps the node's address.
 */
export function nodeProbeScript(podIps: readonly string[]): string {
  const v4 = podIps.filter((ip) => !ip.includes(':'));
  const v6 = podIps.filter((ip) => ip.includes(':'));
  const elements = (ips: string[]): string =>
    ips.length === 0 ? '' : ` elements = { ${ips.join(', ')} };`;
  return `table inet ${NODE_TABLE}
delete table inet ${NODE_TABLE}
table inet ${NODE_TABLE} {
  set captured4 { type ipv4_addr;${elements(v4)} }
  set captured6 { type ipv6_addr;${elements(v6)} }
  chain probe_snat {
    type nat hook postrouting priority srcnat; policy accept;
    meta l4proto tcp fib saddr type local ip daddr @captured4 counter snat ip to ${PROBE_SOURCE_IPV4}
    meta l4proto tcp fib saddr type local ip6 daddr @captured6 counter snat ip6 to ${PROBE_SOURCE_IPV6}
  }
}
`;
}

/** Removes the node-side probe table. */
export function removeNodeProbeScript(): string {
  return `table inet ${NODE_TABLE}\ndelete table inet ${NODE_TABLE}\n`;
}
