/** Test access to the pinned tools; global setup has already run scripts/get-tools.sh. */
import { readTools, type ToolPaths } from '../../src/shared/tools';

export { resolveTools } from '../../src/shared/tools';

/** A tool's path; throws naming the tool when it is missing. */
export function toolPath(name: keyof ToolPaths): string {
  const value = readTools()[name];
  if (!value) throw new Error(`${name} is not set: run bash scripts/get-tools.sh`);
  return value;
}
