# flexmix's standard errors (refit(), method "optim") of mixtures of Poisson
# regressions, for benchmarks/inference_flexmix.py.
#
# Usage: Rscript benchmarks/inference_flexmix.R OUT_DIR
#
# Data (exported at run time from the installed flexmix, GPL, never written into
# the repository):
#   npreg   flexmix's NPreg (200 rows): yp ~ x, K = 2, constant mixing weights
#   patent  flexmix's patent (70 rows): Patents ~ lgRD, K = 3, concomitant ~ RDS
# Each: set.seed(1); stepFlexmix(..., k = K, nrep = 5, model = FLXMRglm(family =
# "poisson")) (the best of 5 random starts; control: tolerance 1e-10, iter.max
# 2000, minprior 0), then refit(fit), which maximises the log-likelihood again by
# BFGS from the fitted parameters and takes optim's numerical Hessian.  Its
# parameters: each component's coefficients, and the concomitant's coefficients of
# components 2.. (component 1's fixed at 0; with constant weights, "alpha", the log
# ratio of the weights of component k and component 1).
#
# Writes OUT_DIR/<name>.csv (the data) and OUT_DIR/inference_flexmix.json: per data
# set refit's parameter names, estimates and standard errors, the log-likelihood at
# the EM fit, and the R / flexmix versions.
suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
dir.create(out, showWarnings = FALSE, recursive = TRUE)

data("NPreg", package = "flexmix")
data("patent", package = "flexmix")
npreg <- data.frame(x = NPreg$x, y = as.numeric(NPreg$yp))
patent_d <- data.frame(lgRD = patent$lgRD, RDS = patent$RDS, y = as.numeric(patent$Patents))

fit_one <- function(name, dat, formula, k, concomitant) {
  write.csv(dat, file.path(out, paste0(name, ".csv")), row.names = FALSE)
  set.seed(1)
  ctrl <- list(tolerance = 1e-10, iter.max = 2000, minprior = 0)
  fit <- if (is.null(concomitant)) {
    stepFlexmix(formula, data = dat, k = k, nrep = 5, verbose = FALSE,
                model = FLXMRglm(family = "poisson"), control = ctrl)
  } else {
    stepFlexmix(formula, data = dat, k = k, nrep = 5, verbose = FALSE,
                model = FLXMRglm(family = "poisson"), concomitant = FLXPmultinom(concomitant),
                control = ctrl)
  }
  t0 <- proc.time()[["elapsed"]]
  rf <- refit(fit)
  seconds <- proc.time()[["elapsed"]] - t0
  list(names = names(rf@coef), estimate = unname(rf@coef), std_error = unname(sqrt(diag(rf@vcov))),
       loglik = as.numeric(logLik(fit)), n = nrow(dat), k = k, refit_seconds = seconds)
}

res <- list(
  npreg = fit_one("npreg", npreg, y ~ x, 2, NULL),
  patent = fit_one("patent", patent_d, y ~ lgRD, 3, ~RDS),
  R = R.version.string,
  flexmix = as.character(packageVersion("flexmix"))
)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(out, "inference_flexmix.json"))
