# flexmix's standard errors (refit(), method "optim") of a K = 2 mixture of
# regressions with a multinomial-logit concomitant (gate), for benchmarks/flexmix_se.py.
#
# Usage: Rscript benchmarks/flexmix_se.R OUT_DIR [MCYCLE.csv]
#
# Data (exported at run time from the installed R packages, never shipped):
#   npreg   flexmix's NPreg (200 rows): yn ~ x + I(x^2), concomitant ~ x
#   mcycle  MASS's mcycle (133 rows) if no CSV is given, else the CSV (columns
#           times, accel): accel ~ times, concomitant ~ times
# Each: set.seed(1); stepFlexmix(..., k = 2, nrep = 5) (the best of 5 random
# starts; control: tolerance 1e-10, iter.max 2000, minprior 0), then refit(fit).
# refit() maximises the log-likelihood again by BFGS from the fitted
# parameters and takes its numerical Hessian (optim(hessian = TRUE)); its
# parameters: each component's coefficients and log(sigma), the concomitant's
# coefficients of component 2 (component 1's are fixed at 0).
#
# Writes OUT_DIR/<name>.csv (the data fitted) and OUT_DIR/flexmix_se.json:
# per data set the refit's parameter names, estimates and standard errors,
# the log-likelihood and R / flexmix versions.
suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
dir.create(out, showWarnings = FALSE, recursive = TRUE)

data("NPreg", package = "flexmix")
npreg <- NPreg[, c("x", "yn")]
if (length(args) >= 2) {
  mcycle <- read.csv(args[2])
} else {
  data("mcycle", package = "MASS")
}

fit_one <- function(name, dat, formula, concomitant) {
  write.csv(dat, file.path(out, paste0(name, ".csv")), row.names = FALSE)
  set.seed(1)
  fit <- stepFlexmix(formula, data = dat, k = 2, nrep = 5, verbose = FALSE,
                     concomitant = FLXPmultinom(concomitant),
                     control = list(tolerance = 1e-10, iter.max = 2000, minprior = 0))
  rf <- refit(fit)
  se <- sqrt(diag(rf@vcov))
  list(names = names(rf@coef), estimate = unname(rf@coef), std_error = unname(se),
       fitted = unname(FLXgetParameters(fit)), loglik = as.numeric(logLik(fit)),
       n = nrow(dat))
}

res <- list(
  npreg = fit_one("npreg", npreg, yn ~ x + I(x^2), ~ x),
  mcycle = fit_one("mcycle", mcycle[, c("times", "accel")], accel ~ times, ~ times),
  R = R.version.string,
  flexmix = as.character(packageVersion("flexmix"))
)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(out, "flexmix_se.json"))
