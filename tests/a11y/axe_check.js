// Accessibility check of HTML pages: axe-core (WCAG 2.0/2.1 A and AA rules) in Debian's
// headless Chromium driven by playwright-core. One browser for every page given.
//   node axe_check.js PAGE.html...   ->  one JSON object per page on stdout:
//   {"page": ..., "violations": [{"id", "impact", "help", "nodes", "targets": [...]}]}
// Exit code 0 whatever was found (the caller judges); 2 when the check could not run.
const path = require('path');
const { chromium } = require('playwright-core');

const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

async function main(pages) {
  const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args });
  try {
    const context = await browser.newContext({ offline: true });
    const page = await context.newPage();
    for (const file of pages) {
      await page.goto('file://' + path.resolve(file), { waitUntil: 'load', timeout: 120000 });
      await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
      const result = await page.evaluate(
        (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
        TAGS,
      );
      const violations = result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
        targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
      }));
      process.stdout.write(JSON.stringify({ page: file, violations }) + '\n');
    }
  } finally {
    await browser.close();
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`the accessibility check could not run: ${err.stack || err}\n`);
  process.exit(2);
});
