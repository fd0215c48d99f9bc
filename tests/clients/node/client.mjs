// The official openai Node SDK against the gateway, nothing changed but baseURL and apiKey.
// Prints one JSON object with what each call returned, for tests/aiapi/test_other_clients.py.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const messages = [{ role: "user", content: "hello from node" }];

const models = [];
for await (const model of client.models.list()) models.push(model.id);

const completion = await client.chat.completions.create({ model: "fast", messages });

let streamed = "";
let finishReason = null;
let usage = null;
const stream = await client.chat.completions.create({
  model: "fast",
  messages,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  const choice = chunk.choices[0];
  if (!choice) continue;
  streamed += choice.delta?.content ?? "";
  finishReason = choice.finish_reason ?? finishReason;
}

const embedding = await client.embeddings.create({ model: "emb", input: "hello" });

let refused = null;
try {
  await client.chat.completions.create({ model: "no-such-model", messages });
} catch (error) {
  refused = { status: error.status, code: error.code };
}

console.log(
  JSON.stringify({
    models,
    text: completion.choices[0].message.content,
    usage: completion.usage,
    streamed,
    finishReason,
    streamUsage: usage,
    dimensions: embedding.data[0].embedding.length,
    refused,
  }),
);
