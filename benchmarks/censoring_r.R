# Censored single-model maximum-likelihood references in R: the R side of benchmarks/censoring_r.py.
#
# Usage: Rscript benchmarks/censoring_r.R --out DIR
#
# Exports survival's `lung` (GPL: written at run time to DIR/data/lung.csv only, never into the
# repository): the 227 rows with ph.ecog known, `status == 1` right-censored (63 rows), and fits
#
#   survreg(Surv(time, status) ~ age + sex + ph.ecog, dist = d)   for d in weibull, lognormal, gaussian
#
# Every log-likelihood is recomputed from the d- and p-functions at survreg's estimates (the
# density of the deaths, the survival function of the censored times), beside survreg's own,
# and the standard errors survreg reports (sqrt(diag(vcov(fit))): coefficients and Log(scale)).
# Writes DIR/censoring_r.json with the versions of R and survival.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2 || args[1] != "--out") stop("usage: censoring_r.R --out DIR")
out <- args[2]
dir.create(file.path(out, "data"), recursive = TRUE, showWarnings = FALSE)

lung <- survival::lung
lung <- lung[!is.na(lung$ph.ecog), c("time", "status", "age", "sex", "ph.ecog")]
cols <- lapply(lung, function(v) sprintf("%.17g", as.numeric(v)))
write.csv(as.data.frame(cols, stringsAsFactors = FALSE), file.path(out, "data", "lung.csv"),
          row.names = FALSE, quote = FALSE)

dead <- lung$status == 2
results <- list()
for (d in c("weibull", "lognormal", "gaussian")) {
  fit <- survreg(Surv(time, status) ~ age + sex + ph.ecog, data = lung, dist = d,
                 control = survreg.control(rel.tolerance = 1e-13, iter.max = 200))
  lp <- predict(fit, type = "lp")
  s <- fit$scale
  t <- lung$time
  if (d == "weibull") {
    logf <- dweibull(t, shape = 1 / s, scale = exp(lp), log = TRUE)
    logS <- pweibull(t, shape = 1 / s, scale = exp(lp), lower.tail = FALSE, log.p = TRUE)
  } else if (d == "lognormal") {
    logf <- dlnorm(t, meanlog = lp, sdlog = s, log = TRUE)
    logS <- plnorm(t, meanlog = lp, sdlog = s, lower.tail = FALSE, log.p = TRUE)
  } else {
    logf <- dnorm(t, mean = lp, sd = s, log = TRUE)
    logS <- pnorm(t, mean = lp, sd = s, lower.tail = FALSE, log.p = TRUE)
  }
  results[[d]] <- list(
    call = paste0("survreg(Surv(time, status) ~ age + sex + ph.ecog, dist = \"", d, "\")"),
    n = nrow(lung), n_censored = sum(!dead),
    loglik = sum(logf[dead]) + sum(logS[!dead]), reported = fit$loglik[2],
    coef = as.list(coef(fit)), scale = s,
    se = as.list(sqrt(diag(vcov(fit))))
  )
}
results$versions <- list(R = R.version.string, survival = as.character(packageVersion("survival")))
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out, "censoring_r.json"))
