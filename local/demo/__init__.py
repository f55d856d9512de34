"""The main job on one command: a Black-Friday campaign played through a whole day on the local stack.

`python -m local.demo [--devices N] [--latency S] [--seed N] [--report PATH]` (`make demo`):

1. starts the embedded stack on template.yaml and the APNs, FCM and Web Push stand-ins in-process;
2. creates an app and its provider credentials over the HTTP API, registers a mixed audience over HTTP
   and plants stale tokens (to be pruned) and flaky ones (to be retried);
3. creates a `local_time` campaign (09:00 next Friday in every zone), then drives the clock from one
   due schedule to the next, firing it and draining the queues, with a line per step;
4. posts opens, clicks and purchases, prints the summary and writes an HTML report;
5. exits 1 if any number disagrees: campaign stats against what the stand-ins accepted and refused,
   and every accepted title, body and link against what the device's own data predicts (computed
   here from the registration and the copy, not with the engine's compose code).

The package: `scenario` (the story: markets, copy, audience, planted faults, the API calls, the clock
driven through the day), `checks` (what the stand-ins saw, what each device should show, the
cross-checks), `report` (tables, example notifications, the console summary) with `page` (the HTML
page), and `__main__` (the run that wires them).
"""
