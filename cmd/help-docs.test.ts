import t from 'tap';
import { readFileSync } from 'node:fs';
import { CLI_DOC, renderCliDoc } from './help-docs.ts';

t.test('docs/cli.md is the CLI\'s real help (regenerate with npx node cmd/help-docs.ts)', async (t) => {
  const text = await renderCliDoc();
  t.equal(readFileSync(CLI_DOC, 'utf8'), text);
  for (const name of ['operator', 'gateway', 'cni-manager', 'cni-manager uninstall']) t.match(text, `## \`kube-egress-gateway ${name}\``);
});
