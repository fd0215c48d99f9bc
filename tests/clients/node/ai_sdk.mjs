// The AI SDK's default OpenAI provider (`createOpenAI(...)(model)`, which calls the Responses
// API) against the gateway, nothing changed but baseURL and apiKey. Prints one JSON object with
// what each call returned, for tests/aiapi/test_other_clients.py.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

const [baseURL, apiKey] = process.argv.slice(2);
const openai = createOpenAI({ baseURL, apiKey });

const generated = await generateText({ model: openai("fast"), prompt: "hello from the AI SDK", maxRetries: 0 });

const stream = streamText({ model: openai("fast"), prompt: "stream it", maxRetries: 0 });
let streamed = "";
for await (const piece of stream.textStream) streamed += piece;
const streamUsage = await stream.usage;

console.log(
  JSON.stringify({
    text: generated.text,
    usage: generated.usage,
    finishReason: generated.finishReason,
    streamed,
    streamUsage,
  }),
);
