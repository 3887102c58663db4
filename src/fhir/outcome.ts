/**
 * Turns an OperationOutcome (or another JSON error body) into one readable line.
 */

interface OutcomeIssue {
  severity?: unknown;
  code?: unknown;
  diagnostics?: unknown;
  details?: { text?: unknown; coding?: Array<{ code?: unknown; display?: unknown }> };
  expression?: unknown;
  location?: unknown;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v !== '') : [];
}

function describeIssue(issue: OutcomeIssue): string {
  const head = [text(issue.severity), text(issue.code)].filter(Boolean).join(' ') || 'issue';
  const coding = issue.details?.coding?.[0];
  const detail = text(issue.diagnostics) ?? text(issue.details?.text) ?? text(coding?.display) ?? text(coding?.code);
  const where = strings(issue.expression).length > 0 ? strings(issue.expression) : strings(issue.location);
  return `${head}${detail ? `: ${detail}` : ''}${where.length > 0 ? ` (at ${where.join(', ')})` : ''}`;
}

/**
 * "error invalid: diagnostics (at expression)" for each issue of an OperationOutcome, joined
 * with "; ". Undefined when `outcome` is not an OperationOutcome with issues.
 */
export function describeOutcome(outcome: unknown): string | undefined {
  if (typeof outcome !== 'object' || outcome === null) return undefined;
  const o = outcome as { resourceType?: unknown; issue?: unknown };
  if (o.resourceType !== 'OperationOutcome' || !Array.isArray(o.issue) || o.issue.length === 0) return undefined;
  return (o.issue as unknown[])
    .filter((i): i is OutcomeIssue => typeof i === 'object' && i !== null)
    .map(describeIssue)
    .join('; ');
}

/**
 * For non-FHIR JSON error bodies (AIM, gateways): the usual `message` / `error` /
 * `error_description` / `detail` fields. Undefined when none is present.
 */
export function describeErrorBody(body: unknown): string | undefined {
  const fromOutcome = describeOutcome(body);
  if (fromOutcome) return fromOutcome;
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  const parts = [text(b.error), text(b.error_description) ?? text(b.message) ?? text(b.detail) ?? text(b.title)].filter(Boolean);
  return parts.length > 0 ? parts.join(': ') : undefined;
}
