// Charts for the report: Vega-Lite specs rendered to SVG in Node (no browser, no canvas).

import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Renders a Vega-Lite spec to an SVG document. */
export async function svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

type Row = Record<string, unknown>;

/** Lines of `y` against `x`, one per `color`, optionally one panel per `column`. */
export function lines(title: string, values: Row[], x: { field: string; title: string; log?: boolean }, y: { field: string; title: string; log?: boolean }, color: string, column?: string): TopLevelSpec {
  const encoding = {
    x: { field: x.field, type: 'quantitative' as const, title: x.title, scale: x.log === true ? { type: 'log' as const } : {} },
    y: { field: y.field, type: 'quantitative' as const, title: y.title, scale: y.log === true ? { type: 'log' as const } : {} },
    color: { field: color, type: 'nominal' as const },
  };
  const layer = { mark: { type: 'line' as const, point: true }, encoding };
  if (column === undefined) return { title, data: { values }, width: 360, height: 220, ...layer } as TopLevelSpec;
  // Panels differ by orders of magnitude (models, payloads): each gets its own y scale.
  return {
    title,
    data: { values },
    facet: { column: { field: column, type: 'nominal' } },
    spec: { width: 240, height: 200, ...layer },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** Bars of `y` per `x`, grouped by `color`. */
export function bars(title: string, values: Row[], x: { field: string; title: string }, y: { field: string; title: string }, color: string): TopLevelSpec {
  return {
    title,
    data: { values },
    width: 360,
    height: 220,
    mark: 'bar',
    encoding: {
      x: { field: x.field, type: 'nominal', title: x.title },
      xOffset: { field: color },
      y: { field: y.field, type: 'quantitative', title: y.title },
      color: { field: color, type: 'nominal' },
    },
  } as TopLevelSpec;
}
