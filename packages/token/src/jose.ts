/**
 * jose, loaded when a token is first verified or signed rather than at start: its ~46 modules cost
 * a start ~35 ms of CPU (measured with the compile cache warm), and a server that has not yet seen
 * an authenticated request does not need them. Every use in this package goes through here.
 */
type Jose = typeof import("jose");

let loading: Promise<Jose> | undefined;

export function loadJose(): Promise<Jose> {
  loading ??= import("jose");
  return loading;
}
