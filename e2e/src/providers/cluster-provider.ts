// One interface for the clusters the e2e suite runs on. The suite only sees `ClusterAccess`;
// which provider made the cluster is chosen by AMBIT_E2E_PROVIDER (select-provider.ts).

/** What a test needs to talk to a cluster, whoever made it. */
export interface ClusterAccess {
  /** Which provider made the cluster (tests pick the same one with `selectProvider(provider)`). */
  readonly provider: 'local' | 'kind';
  /** Admin (cluster-admin) kubeconfig. */
  readonly kubeconfig: string;
  /** kubectl for that cluster. */
  readonly kubectl: string;
  /** helm v3. */
  readonly helm: string;
  /** An image every node has, with Node 24 at /usr/local/bin/node (pulled never: IfNotPresent). */
  readonly testImage: string;
}

/** A container image the suite wants on every node, and how to build it with Docker (kind). */
export interface ImageSpec {
  /** Reference the pods use, e.g. localhost/ambit/ztunnel:dev. */
  readonly ref: string;
  /** Dockerfile and build context, relative to the repository root. */
  readonly dockerfile: string;
  readonly context: string;
  /**
   * For the local provider (no Docker): a script, relative to the repository root, that builds
   * the image as an OCI archive and prints the archive's path (see e2e/scripts/images.sh).
   */
  readonly localBuild?: string;
}

export interface ClusterProvider {
  readonly name: 'local' | 'kind';
  /** Creates the cluster or finds it running (idempotent), and waits until it is ready. */
  up(): Promise<ClusterAccess>;
  /** Builds the image and makes it present on every node (kind: docker build + kind load). */
  loadImage(image: ImageSpec): Promise<void>;
  /**
   * Builds Ambit's four images (controller, ztunnel, node-agent, waypoint) from this checkout and
   * makes them present on every node (local: images/build-local.sh --import; kind: docker build
   * of images/Dockerfile + kind load).
   */
  loadAmbitImages(): Promise<void>;
  /**
   * Helm values that make charts/ambit work on this cluster with the images of
   * `loadAmbitImages` (local: one nodeGroups entry per node with its own host paths).
   */
  meshValues(access: ClusterAccess): Promise<Record<string, unknown>>;
  /**
   * The command line that runs `argv` in a node's network namespace, as root (local:
   * `ip netns exec ambit-<node> …`; kind: `docker exec <node> …`). Tools come from the
   * machine (local) or the node image (kind).
   */
  nodeCommand(node: string, argv: readonly string[]): readonly string[];
  /** Where a node's file `path` is for a `nodeCommand` (local: the path; kind: /proc/1/root/…). */
  nodePath(path: string): string;
  /** Deletes everything the provider created (idempotent). */
  down(): Promise<void>;
}
