// Evaluates a Splitlab features payload with GrowthBook's JavaScript SDK (the npm package
// pinned in package.json) for many users. stdin: {"payload": {...}, "users": [{"id": ...,
// ...attributes}]}; stdout: one [value, source, inExperiment] triple per user and feature,
// features in the payload's order.
const { GrowthBook } = require("@growthbook/growthbook");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { payload, users } = JSON.parse(input);
  const keys = Object.keys(payload.features);
  const gb = new GrowthBook({});
  gb.initSync({ payload });
  const out = users.map((attributes) => {
    gb.setAttributes(attributes);
    return keys.map((key) => {
      const result = gb.evalFeature(key);
      return [result.value, result.source, Boolean(result.experimentResult?.inExperiment)];
    });
  });
  process.stdout.write(JSON.stringify({ keys, results: out }));
});
