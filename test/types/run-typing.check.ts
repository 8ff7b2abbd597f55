import OpenAI from 'openai';
import type { Request } from 'express';
import '../../lib';
const client = new OpenAI({ apiKey: 'x' });
export async function handler(req: Request) {
  const completion = await req.tokenBudget!.run((params, options) => client.chat.completions.create(params, options));
  const text: string | null = completion.choices[0]!.message.content;
  return text;
}
