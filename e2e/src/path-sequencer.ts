// The e2e suite runs its files in a fixed order, by path: the mesh scenarios build on each other
// (e2e/src/mesh/10-install… first, 90-uninstall last), so vitest's default order (slowest first,
// from the last run's durations) would break them. Files are run one at a time
// (fileParallelism: false in vitest.e2e.config.ts).
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export class PathSequencer extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const byPath = (a: TestSpecification, b: TestSpecification): number =>
      a.moduleId < b.moduleId ? -1 : a.moduleId > b.moduleId ? 1 : 0;
    return Promise.resolve([...files].sort(byPath));
  }

  override shard(files: TestSpecification[]): Promise<TestSpecification[]> {
    return Promise.resolve(files);
  }
}
