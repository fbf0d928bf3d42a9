#!/usr/bin/env Rscript
# Single-distribution fits to the Danish fire losses (fitdistrplus::danishuni$Loss, 2167 losses
# 1980-1990, millions of DKK) for benchmarks/danish.py:
#
#   Rscript benchmarks/danish.R --out DIR
#
# writes DIR/data/danish.csv (the losses; fitdistrplus is GPL: written to DIR only, never into the
# repository) and DIR/danish_r.json: for fitdistrplus::fitdist "lnorm", "weibull" and actuar's
# "burr", the log-likelihood (recomputed from the d-function at the estimates), the number of
# parameters, BIC, the 99% quantile (the q-function) and the 99% conditional tail expectation
# (CTE = VaR + (E[X] - E[min(X, VaR)]) / 0.01, from actuar's m- and lev-functions).
suppressPackageStartupMessages({
  library(fitdistrplus)
  library(actuar)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 2 && args[1] == "--out") args[2] else "/tmp/mixexp_danish"
dir.create(file.path(out, "data"), showWarnings = FALSE, recursive = TRUE)
data(danishuni)
x <- danishuni$Loss
write.csv(data.frame(Loss = sprintf("%.17g", x)), file.path(out, "data", "danish.csv"), row.names = FALSE,
          quote = FALSE)

result <- function(fit, dist, call, notes = "") {
  e <- as.list(fit$estimate)
  ll <- sum(do.call(paste0("d", dist), c(list(x), e, list(log = TRUE))))
  k <- length(e)
  var99 <- do.call(paste0("q", dist), c(list(0.99), e))
  mean <- do.call(paste0("m", dist), c(list(1), e))
  limited <- do.call(paste0("lev", dist), c(list(var99), e))
  list(call = call, loglik = ll, reported = fit$loglik, k = k, bic = -2 * ll + k * log(length(x)),
       var99 = var99, cte99 = var99 + (mean - limited) / 0.01, estimates = e, notes = notes)
}
results <- list()
results$lognormal <- result(fitdist(x, "lnorm"), "lnorm", "fitdistrplus::fitdist(x, 'lnorm')")
results$weibull <- result(fitdist(x, "weibull"), "weibull", "fitdistrplus::fitdist(x, 'weibull')")
# no interior maximum (the losses start at 1: the likelihood rises towards a Pareto with threshold 1
# as shape2 grows, benchmarks/families_r.R): within mixexp's bounds, as there
fb <- fitdist(x, "burr", start = list(shape1 = 0.01, shape2 = 100, rate = 1), lower = c(1e-3, 1e-2, 1e-8),
              upper = c(1e3, 1e3, 1e8), control = list(factr = 1, pgtol = 0, maxit = 10000))
# its shape1 (1.3e-3) overflows qburr's (1 - p)^(-1 / shape1) and mburr: the quantile on the log scale,
# the CTE by integrate() of it over (0.99, 1) (its singularity at 1, (1 - u)^(-1 / (shape1 shape2)),
# is integrable: the tail index shape1 shape2 > 1)
qburr_log <- function(p, shape1, shape2, rate) {
  L <- -log1p(-p) / shape1
  exp((L + log(-expm1(-L))) / shape2) / rate
}
results$burr <- result(fb, "burr", "fitdistrplus::fitdist(x, 'burr', lower = c(1e-3, 1e-2, 1e-8), upper = c(1e3, 1e3, 1e8))",
                       "no interior maximum: stops at or near the bound shape2 = 1000")
e <- as.list(fb$estimate)
results$burr$var99 <- do.call(qburr_log, c(list(0.99), e))
results$burr$cte99 <- integrate(function(u) do.call(qburr_log, c(list(u), e)), 0.99, 1, rel.tol = 1e-10,
                                subdivisions = 5000L)$value / 0.01
results$burr$risk_notes <- "VaR from the log-scale quantile; CTE by integrate() of the quantile over (0.99, 1)"
results$empirical <- list(n = length(x), var99 = unname(quantile(x, 0.99, type = 1)),
                          cte99 = mean(sort(x)[seq(ceiling(0.99 * length(x)) + 1, length(x))]))
results$versions <- list(R = R.version.string, fitdistrplus = as.character(packageVersion("fitdistrplus")),
                         actuar = as.character(packageVersion("actuar")))
write(toJSON(results, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out, "danish_r.json"))
cat("wrote", file.path(out, "danish_r.json"), "\n")
