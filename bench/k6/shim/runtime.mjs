// Per-thread state the emulated k6 modules share with the thread that runs them: the main thread
// (init of VU 0 for the options, setup, handleSummary) or a VU's worker thread. Each installs its
// own declare/emit.
export const rt = {
  // 'init' while a script's module graph is evaluated (k6's init context), 'setup', 'vu' while
  // a VU runs iterations, 'summary' during handleSummary.
  phase: 'init',
  // declare(name, type, contains) records a custom metric.
  declare: () => {
    throw new Error('shim: no metric registry installed');
  },
  // emit(name, value, check) records one sample; check names the check for `checks` samples.
  emit: () => {
    throw new Error('shim: no metric sink installed');
  },
};
