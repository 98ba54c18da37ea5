// Drives the public getcourse-js-sdk (npm, not ours) against `gcbatch sim --tls`: add a user,
// add a deal, start a users export and poll it until ready, printing each answer as a JSON line
// for the Go test to check. The SDK builds https://ACCOUNT/..., so ACCOUNT is host:port.
const { GetCourse } = require('getcourse-js-sdk');

async function main() {
  const gc = new GetCourse(process.env.GC_ACCOUNT, process.env.GC_KEY, { request_delay: 20 });
  const say = (step, answer) => console.log(JSON.stringify({ step, answer }));
  say('addUser', await gc.user.addUser({
    user: { email: 'sdk.user@example.com', first_name: 'Анна', group_name: ['SDK'] },
    system: { refresh_if_exists: 1 }, session: {},
  }));
  say('addDeal', await gc.deal.addDeal({
    user: { email: 'sdk.user@example.com' },
    deal: { product_title: 'Курс SDK', deal_cost: '1500', deal_number: 'sdk-1', deal_status: 'new' },
    system: { refresh_if_exists: 0 },
  }));
  const started = await gc.account.exportUsers({ created_at: { from: '2000-01-01' } });
  say('exportUsers', started);
  for (let i = 0; i < 100; i++) {
    try {
      const r = await gc.account.getExportResult(started.info.export_id);
      if (r.success && r.info.items) {
        say('result', r);
        return;
      }
    } catch (e) {
      // The SDK throws on «Файл еще не создан» (909): its users poll by hand.
      if (e.response !== 'Файл еще не создан') throw e;
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error('the export never became ready');
}

main().catch((e) => { console.error(e); process.exit(1); });
