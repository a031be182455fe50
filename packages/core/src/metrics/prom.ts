// prom-client's metric classes, re-exported so that components define their own metrics through
// core (one prom-client version in the workspace, no direct dependency in each package).

export { Counter, Gauge, Histogram, Summary } from 'prom-client';
