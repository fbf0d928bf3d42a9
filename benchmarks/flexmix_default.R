# flexmix as its users run it, for the "flexmix_own" and "flexmix_step" parts of
# benchmarks/speed.py (issue 30, ">= 100x flexmix"): flexmix's own default start
# (a random hard partition), flexmix's default control (iter.max = 200,
# tolerance = 1e-6, minprior = 0.05), FLXMRglm(gaussian) experts and, unless the
# gate columns are "1", a FLXPmultinom concomitant gate.  Timed around the
# flexmix() / stepFlexmix() call only (not R's start-up, not reading the data).
#
# Usage: Rscript flexmix_default.R DATA.csv K NREP SEED EXPERT_COLS GATE_COLS OUT.json
#   DATA.csv     the columns named below and y (header)
#   NREP         1: flexmix(y ~ ..., k = K, concomitant = FLXPmultinom(~ ...));
#                > 1: stepFlexmix(the same, k = K, nrep = NREP), which keeps the best run
#   SEED         set.seed(SEED) before the call (flexmix's random start)
#   EXPERT_COLS  comma-separated columns of the experts' formula (y ~ x1 + ...)
#   GATE_COLS    comma-separated columns of the concomitant formula, or 1 (constant weights)
#   OUT.json     written: seconds, iterations and convergence of the kept run, its
#                log-likelihood (total, per sample, df), surviving components
suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
usage <- "usage: flexmix_default.R DATA.csv K NREP SEED EXPERT_COLS GATE_COLS OUT.json"
if (length(args) != 7) stop(usage)
dat <- read.csv(args[1])
K <- as.integer(args[2])
nrep <- as.integer(args[3])
seed <- as.integer(args[4])
xcols <- strsplit(args[5], ",")[[1]]
zcols <- strsplit(args[6], ",")[[1]]
out <- args[7]

f_expert <- as.formula(paste("y ~", paste(xcols, collapse = " + ")))
conc <- if (identical(zcols, "1")) NULL else
  FLXPmultinom(as.formula(paste("~", paste(zcols, collapse = " + "))))

set.seed(seed)
if (nrep == 1) {
  tm <- system.time(
    fit <- if (is.null(conc)) flexmix(f_expert, data = dat, k = K)
           else flexmix(f_expert, data = dat, k = K, concomitant = conc)
  )
  call <- "flexmix"
} else {
  tm <- system.time(
    fit <- if (is.null(conc)) stepFlexmix(f_expert, data = dat, k = K, nrep = nrep, verbose = FALSE)
           else stepFlexmix(f_expert, data = dat, k = K, nrep = nrep, verbose = FALSE,
                            concomitant = conc)
  )
  call <- "stepFlexmix"
}
n <- nrow(dat)
ll <- logLik(fit)
res <- list(
  call = call, n = n, K = K, nrep = nrep, seed = seed,
  expert_formula = deparse(f_expert),
  concomitant = if (is.null(conc)) "none" else paste("~", paste(zcols, collapse = " + ")),
  seconds = unname(tm["elapsed"]), cpu_seconds = unname(tm["user.self"] + tm["sys.self"]),
  iterations = fit@iter, converged = fit@converged, k_final = fit@k,
  loglik = as.numeric(ll), df = attr(ll, "df"), loglik_per_sample = as.numeric(ll) / n,
  versions = list(R = R.version.string, flexmix = as.character(packageVersion("flexmix")),
                  nnet = as.character(packageVersion("nnet")))
)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE), out)
