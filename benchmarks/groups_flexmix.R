# flexmix's grouped mixtures of regressions: the reference side of benchmarks/groups_flexmix.py.
#
# Usage: Rscript benchmarks/groups_flexmix.R --out DIR [--nrep 5] [--seed 1]
#
# flexmix's own vignette example of grouped data (Leisch 2004, "FlexMix: A general
# framework for finite mixture models and latent class regression in R", section 5):
# NPreg, yn ~ x + I(x^2) | id2 (50 groups of 4 rows), K = 2, Gaussian experts.
# NPreg is exported at run time from the installed package to DIR/npreg_groups.csv
# (do not commit: flexmix is GPL) with 17 significant digits, with a group-level
# variable xbar (the mean of x over the group's rows) for a concomitant gate.
#
# Fits, each with stepFlexmix(k = 2, nrep = nrep) and flexmix's default control
# (iter.max 200, tolerance 1e-6, minprior 0.05), set.seed(seed) before each:
#   grouped       yn ~ x + I(x^2) | id2                      constant mixing weights
#   concomitant   yn ~ x + I(x^2) | id2, concomitant ~ xbar  a gate on the group's xbar
#   rows          yn ~ x + I(x^2)                             the same rows without groups
#   grouped_tight grouped, control = list(tolerance = 1e-12, iter.max = 10000)
# and writes DIR/groups_flexmix.json: per fit the best start's log-likelihood, df,
# nobs used by BIC, BIC, the number of components left, the seconds, and each row's
# cluster (for the agreement with NPreg's class), with R's and flexmix's versions.
suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
opt <- list(out = NULL, nrep = 5L, seed = 1L)
i <- 1
while (i <= length(args)) {
  key <- sub("^--", "", args[i])
  if (!key %in% names(opt) || i == length(args)) stop("usage: groups_flexmix.R --out DIR [--nrep 5] [--seed 1]")
  opt[[key]] <- args[i + 1]
  i <- i + 2
}
if (is.null(opt$out)) stop("usage: groups_flexmix.R --out DIR [--nrep 5] [--seed 1]")
nrep <- as.integer(opt$nrep)
seed <- as.integer(opt$seed)
out <- opt$out
dir.create(out, recursive = TRUE, showWarnings = FALSE)
suppressWarnings(RNGversion("4.0.0"))

data("NPreg", package = "flexmix")
d <- NPreg
d$xbar <- ave(d$x, d$id2)
exported <- data.frame(x = d$x, yn = d$yn, id2 = as.integer(as.character(d$id2)), xbar = d$xbar,
                       class = d$class)
exported[] <- lapply(exported, function(v) if (is.double(v)) sprintf("%.17g", v) else v)
write.csv(exported, file.path(out, "npreg_groups.csv"), row.names = FALSE, quote = FALSE)

fit <- function(name, formula, concomitant = NULL, control = NULL) {
  set.seed(seed)
  t0 <- proc.time()[["elapsed"]]
  m <- if (is.null(concomitant)) {
    stepFlexmix(formula, data = d, k = 2, nrep = nrep, verbose = FALSE, control = control)
  } else {
    stepFlexmix(formula, data = d, k = 2, nrep = nrep, concomitant = concomitant, verbose = FALSE,
                control = control)
  }
  seconds <- proc.time()[["elapsed"]] - t0
  ll <- logLik(m)
  list(name = name, loglik = as.numeric(ll), df = attr(ll, "df"), nobs = attr(ll, "nobs"),
       bic = BIC(m), k_final = length(m@size), iter = m@iter, seconds = seconds,
       cluster = as.integer(clusters(m)))
}

results <- list(
  fit("grouped", yn ~ x + I(x^2) | id2),
  fit("concomitant", yn ~ x + I(x^2) | id2, FLXPmultinom(~ xbar)),
  fit("rows", yn ~ x + I(x^2)),
  fit("grouped_tight", yn ~ x + I(x^2) | id2, control = list(tolerance = 1e-12, iter.max = 10000))
)
info <- list(R = R.version.string, flexmix = as.character(packageVersion("flexmix")), nrep = nrep,
             seed = seed, fits = results)
write(toJSON(info, auto_unbox = TRUE, digits = I(17)), file.path(out, "groups_flexmix.json"))
for (r in results) cat(sprintf("%-12s loglik %.6f df %d nobs %d k %d\n", r$name, r$loglik, r$df, r$nobs, r$k_final))
