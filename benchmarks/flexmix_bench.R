# flexmix baseline (c) of benchmarks/speed.py: a mixture of linear-Gaussian
# experts (FLXMRglm) with a multinomial-logit concomitant gate (FLXPmultinom),
# started from a given hard partition, timed around the flexmix() call only.
#
# Usage: Rscript flexmix_bench.R DATA.csv LABELS.txt K ITER_MAX TOLERANCE OUT.json
#   DATA.csv   columns x1..xd, y (header)
#   LABELS.txt one 0-based initial cluster label per line
#   OUT.json   written: iterations, converged, logLik (total and per sample),
#              seconds, the per-iteration log-likelihood trace and the fitted
#              parameters (so the caller can recompute the log-likelihood).
suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 6) stop("usage: flexmix_bench.R DATA.csv LABELS.txt K ITER_MAX TOLERANCE OUT.json")
dat <- read.csv(args[1])
labels <- scan(args[2], what = integer(), quiet = TRUE) + 1L
K <- as.integer(args[3])
iter_max <- as.integer(args[4])
tolerance <- as.numeric(args[5])
out <- args[6]

xn <- setdiff(names(dat), "y")
f_expert <- as.formula(paste("y ~", paste(xn, collapse = " + ")))
f_gate <- as.formula(paste("~", paste(xn, collapse = " + ")))

# verbose = 1 prints the log-likelihood after every iteration: keep the trace
trace_lines <- character(0)
elapsed <- NA
fit <- NULL
trace_lines <- capture.output({
  tm <- system.time(
    fit <- flexmix(
      f_expert, data = dat, k = K, cluster = labels,
      model = FLXMRglm(family = "gaussian"),
      concomitant = FLXPmultinom(f_gate),
      control = list(iter.max = iter_max, tolerance = tolerance, minprior = 0, verbose = 1)
    )
  )
})
elapsed <- unname(tm["elapsed"])
trace <- suppressWarnings(as.numeric(sub(".*Log-likelihood\\s*:\\s*", "",
  grep("Log-likelihood", trace_lines, value = TRUE))))
trace <- trace[!is.na(trace)]

n <- nrow(dat)
ll <- as.numeric(logLik(fit))
pars <- parameters(fit)          # rows: coef.(Intercept), coef.x1.., sigma; one column per component
gate <- fit@concomitant@coef     # (d + 1) x K, first column 0 (reference)
res <- list(
  n = n, K = K, k_final = fit@k,
  iterations = fit@iter, converged = fit@converged,
  loglik = ll, loglik_per_sample = ll / n,
  seconds = elapsed, seconds_per_iteration = elapsed / max(fit@iter, 1),
  trace_per_sample = trace / n,
  expert_rows = rownames(pars), expert_params = unname(as.matrix(pars)),
  gate_rows = rownames(gate), gate_coef = unname(as.matrix(gate)),
  versions = list(R = R.version.string, flexmix = as.character(packageVersion("flexmix")),
                  nnet = as.character(packageVersion("nnet")))
)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"), out)
