/**
 * Prometheus's text format parsed by the official client's parser (Debian's
 * python3-prometheus-client, `prometheus_client.parser`), so that a test checks what a
 * Prometheus server would read, not what our own code thinks it wrote. (The one npm parser,
 * parse-prometheus-text-format, drops the labels, sums and counts of labelled histograms.)
 */
import { execFileSync } from 'node:child_process';

/** The Debian interpreter, which has the Debian package (a pyenv shim on PATH would not). */
const SYSTEM_PYTHON = '/usr/bin/python3';

const SCRIPT = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
`;

export interface PromSample {
  /** The family's name (a histogram's, for its _bucket, _sum and _count samples). */
  family: string;
  type: string;
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample of an exposition; throws (the parser's message) when the text is not valid. */
export function parsePrometheus(text: string): PromSample[] {
  return JSON.parse(execFileSync(SYSTEM_PYTHON, ['-c', SCRIPT], { input: text, encoding: 'utf8' })) as PromSample[];
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none. */
export function sampleValue(samples: readonly PromSample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
