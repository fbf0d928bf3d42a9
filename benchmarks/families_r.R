# Single-model maximum-likelihood references in R for mixexp's expert families: the R side of
# benchmarks/families_r.py.
#
# Usage: Rscript benchmarks/families_r.R --out DIR
#
# Exports the data sets, at run time, from the installed R packages (all GPL or LGPL: never
# written into the repository) to DIR/data/<name>.csv with 17 significant digits, and fits:
#
#   quine       MASS::quine (146 rows)        glm.nb(Days ~ Eth + Sex + Age + Lrn)
#   insurance   MASS::Insurance (64 rows)     glm.nb(Claims ~ District + Group + Age + offset(log(Holders)));
#                                             also glm(poisson), the limit theta -> inf
#   lung        survival::lung, the 164 rows with status == 2 (deaths: uncensored) and ph.ecog known:
#                 survreg(Surv(time) ~ age + sex + ph.ecog, dist = "weibull") and dist = "lognormal";
#                 glm(time ~ age + sex + ph.ecog, family = inverse.gaussian(link = "log"))
#   danish      fitdistrplus::danishuni$Loss (2167 Danish fire losses, millions of DKK, 1980-1990):
#                 fitdist "lnorm", "weibull", "invgauss" (actuar), "burr" (actuar; within bounds: the
#                 Burr's maximum is not attained on these data, see below)
#   endosulfan  fitdistrplus::endosulfan$ATV (104 toxicity values): fitdist "burr" (the fitdistrplus
#                 vignette's start), "lnorm", "weibull", "invgauss"
#
# Every log-likelihood is recomputed as the sum of the d-function's logs at R's estimates
# (dnbinom, dweibull, dlnorm, statmod::dinvgauss, actuar::dburr); R's own reported value is kept
# beside it.  The inverse Gaussian: glm's coefficients are the maximum-likelihood ones whatever the
# dispersion, but summary()'s dispersion is Pearson's chi^2 / (n - p); the log-likelihood compared
# is at the maximum-likelihood dispersion D / n (D the deviance), which is also what logLik.glm
# uses.  fitdist's optim stops at reltol 1e-8 by default: every fitdist fit here is restarted from
# its optimum with reltol 1e-15 (Nelder-Mead, then BFGS with parscale) until the log-likelihood
# stops rising.
#
# Writes DIR/families_r.json: one entry per comparison (data, family, call, n, loglik, the
# reported loglik, estimates, notes) with the versions of R and the packages.
suppressPackageStartupMessages({
  library(MASS)
  library(survival)
  library(fitdistrplus)
  library(actuar)
  library(statmod)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2 || args[1] != "--out") stop("usage: families_r.R --out DIR")
out <- args[2]
dir.create(file.path(out, "data"), recursive = TRUE, showWarnings = FALSE)

write_data <- function(name, df) {
  cols <- lapply(df, function(v) sprintf("%.17g", as.numeric(v)))
  names(cols) <- gsub("[^A-Za-z0-9_]", "_", names(df))
  write.csv(as.data.frame(cols, stringsAsFactors = FALSE), file.path(out, "data", paste0(name, ".csv")),
            row.names = FALSE, quote = FALSE)
}
design <- function(formula, data) {
  X <- model.matrix(formula, data)
  X[, colnames(X) != "(Intercept)", drop = FALSE]
}
results <- list()
add <- function(key, data, family, call, n, loglik, reported, estimates, notes = "") {
  results[[key]] <<- list(data = data, family = family, call = call, n = n, loglik = loglik,
                          reported = reported, estimates = as.list(estimates), notes = notes)
}

# fitdist to convergence: restarts from the optimum with tight tolerances while it gains
fit_tight <- function(x, dist, start) {
  fit <- fitdist(x, dist, start = start)
  for (i in 1:20) {
    again <- tryCatch(fitdist(x, dist, start = as.list(fit$estimate),
                              control = list(reltol = 1e-15, maxit = 20000)), error = function(e) fit)
    polish <- tryCatch(fitdist(x, dist, start = as.list(again$estimate), optim.method = "BFGS",
                               control = list(reltol = 1e-15, maxit = 20000, parscale = abs(again$estimate))),
                       error = function(e) again)
    best <- if (polish$loglik > again$loglik) polish else again
    gain <- best$loglik - fit$loglik
    if (best$loglik >= fit$loglik) fit <- best
    if (gain < 1e-12) break
  }
  fit
}

# -- counts: negative binomial -------------------------------------------------------
data(quine)
Xq <- design(~ Eth + Sex + Age + Lrn, quine)
write_data("quine", data.frame(Xq, Days = quine$Days, check.names = FALSE))
nb <- glm.nb(Days ~ Eth + Sex + Age + Lrn, data = quine, control = glm.control(epsilon = 1e-14, maxit = 200))
ll <- sum(dnbinom(quine$Days, size = nb$theta, mu = fitted(nb), log = TRUE))
add("quine_nb", "quine", "negative_binomial", "MASS::glm.nb(Days ~ Eth + Sex + Age + Lrn, data = quine)",
    nrow(quine), ll, as.numeric(logLik(nb)), c(coef(nb), theta = nb$theta))

data(Insurance)
Xi <- design(~ District + Group + Age, Insurance)
write_data("insurance", data.frame(Xi, Holders = Insurance$Holders, Claims = Insurance$Claims, check.names = FALSE))
nbi <- suppressWarnings(glm.nb(Claims ~ District + Group + Age + offset(log(Holders)), data = Insurance,
                               control = glm.control(epsilon = 1e-14, maxit = 200)))
ll <- sum(dnbinom(Insurance$Claims, size = nbi$theta, mu = fitted(nbi), log = TRUE))
pois <- glm(Claims ~ District + Group + Age + offset(log(Holders)), family = poisson, data = Insurance,
            control = glm.control(epsilon = 1e-14, maxit = 200))
add("insurance_nb", "insurance", "negative_binomial",
    "MASS::glm.nb(Claims ~ District + Group + Age + offset(log(Holders)), data = Insurance)",
    nrow(Insurance), ll, as.numeric(logLik(nbi)), c(coef(nbi), theta = nbi$theta),
    sprintf(paste("glm.nb stops at its iteration limit with theta = %.4g (no over-dispersion: the",
                  "supremum is the Poisson limit theta -> inf, whose glm log-likelihood is %.10f)"),
            nbi$theta, as.numeric(logLik(pois))))
results$insurance_nb$poisson_loglik <- as.numeric(logLik(pois))

# -- positive amounts with covariates: survival::lung, deaths only -----------------------
lu <- subset(lung, status == 2 & !is.na(ph.ecog))
write_data("lung", data.frame(age = lu$age, sex = lu$sex, ph.ecog = lu$ph.ecog, time = lu$time))
wb <- survreg(Surv(time) ~ age + sex + ph.ecog, data = lu, dist = "weibull",
              control = survreg.control(rel.tolerance = 1e-14, maxiter = 200))
lp <- predict(wb, type = "lp")
add("lung_weibull", "lung", "weibull", "survival::survreg(Surv(time) ~ age + sex + ph.ecog, dist = 'weibull')",
    nrow(lu), sum(dweibull(lu$time, shape = 1 / wb$scale, scale = exp(lp), log = TRUE)), wb$loglik[2],
    c(coef(wb), shape = 1 / wb$scale), "log-scale coefficients; shape = 1 / survreg's scale")
ln <- survreg(Surv(time) ~ age + sex + ph.ecog, data = lu, dist = "lognormal",
              control = survreg.control(rel.tolerance = 1e-14, maxiter = 200))
add("lung_lognormal", "lung", "lognormal", "survival::survreg(Surv(time) ~ age + sex + ph.ecog, dist = 'lognormal')",
    nrow(lu), sum(dlnorm(lu$time, predict(ln, type = "lp"), ln$scale, log = TRUE)), ln$loglik[2],
    c(coef(ln), sigma = ln$scale))
ig <- glm(time ~ age + sex + ph.ecog, data = lu, family = inverse.gaussian(link = "log"),
          start = c(log(mean(lu$time)), 0, 0, 0), control = glm.control(epsilon = 1e-14, maxit = 200))
mu <- fitted(ig)
phi <- sum((lu$time - mu)^2 / (mu^2 * lu$time)) / nrow(lu)
add("lung_inverse_gaussian", "lung", "inverse_gaussian",
    "glm(time ~ age + sex + ph.ecog, family = inverse.gaussian(link = 'log')); dispersion D / n",
    nrow(lu), sum(dinvgauss(lu$time, mean = mu, dispersion = phi, log = TRUE)), as.numeric(logLik(ig)),
    c(coef(ig), dispersion = phi),
    sprintf("summary(glm)'s dispersion (Pearson chi^2 / (n - p)) is %.6g; the MLE D / n is %.6g",
            summary(ig)$dispersion, phi))

# -- positive amounts without covariates: fitdistrplus ---------------------------------
severity <- function(key, x, dist, family, start, estimates, notes = "") {
  fit <- fit_tight(x, dist, start)
  ll <- switch(dist,
    lnorm = sum(dlnorm(x, fit$estimate["meanlog"], fit$estimate["sdlog"], log = TRUE)),
    weibull = sum(dweibull(x, fit$estimate["shape"], fit$estimate["scale"], log = TRUE)),
    invgauss = sum(statmod::dinvgauss(x, mean = fit$estimate["mean"], shape = fit$estimate["shape"], log = TRUE)),
    burr = sum(actuar::dburr(x, fit$estimate["shape1"], fit$estimate["shape2"], fit$estimate["rate"], log = TRUE)))
  add(key, sub("_.*", "", key), family, sprintf("fitdistrplus::fitdist(x, '%s')", dist), length(x), ll,
      fit$loglik, fit$estimate, notes)
  fit
}

data(danishuni)
x <- danishuni$Loss
write_data("danish", data.frame(Loss = x))
severity("danish_lognormal", x, "lnorm", "lognormal", NULL)
severity("danish_weibull", x, "weibull", "weibull", NULL)
igd <- severity("danish_inverse_gaussian", x, "invgauss", "inverse_gaussian", list(mean = mean(x), shape = 1),
                "actuar's invgauss (mean, shape = 1 / dispersion)")
lam <- length(x) / sum(1 / x - 1 / mean(x))
results$danish_inverse_gaussian$closed_form <- list(mean = mean(x), shape = lam,
  loglik = sum(statmod::dinvgauss(x, mean = mean(x), shape = lam, log = TRUE)))
# the losses start at exactly 1 (the data's threshold): Burr's likelihood rises as shape2 grows with
# the scale at 1 (towards a Pareto with threshold 1), so the maximum is not attained and fitdist
# fails from the vignette's starts.  Within mixexp's bounds (shape2 <= 1 / sqrt(reg_variance) =
# 1000 at the default reg_variance 1e-6, shape1 >= 1e-3): L-BFGS-B with those box bounds
fb <- fitdist(x, "burr", start = list(shape1 = 0.01, shape2 = 100, rate = 1), lower = c(1e-3, 1e-2, 1e-8),
              upper = c(1e3, 1e3, 1e8), control = list(factr = 1, pgtol = 0, maxit = 10000))
add("danish_burr", "danish", "burr",
    "fitdistrplus::fitdist(x, 'burr', lower = c(1e-3, 1e-2, 1e-8), upper = c(1e3, 1e3, 1e8)) (L-BFGS-B)",
    length(x), sum(actuar::dburr(x, fb$estimate["shape1"], fb$estimate["shape2"], fb$estimate["rate"], log = TRUE)),
    fb$loglik, fb$estimate,
    paste("no interior maximum: the likelihood rises with shape2 (a Pareto with threshold 1 in the limit);",
          "both fits stop at or near the bound shape2 = 1000"))

data(endosulfan)
x <- endosulfan$ATV
write_data("endosulfan", data.frame(ATV = x))
severity("endosulfan_burr", x, "burr", "burr", list(shape1 = 0.3, shape2 = 1, rate = 1),
         "start of the fitdistrplus vignette (Delignette-Muller & Dutang 2015)")
severity("endosulfan_lognormal", x, "lnorm", "lognormal", NULL)
severity("endosulfan_weibull", x, "weibull", "weibull", NULL)
severity("endosulfan_inverse_gaussian", x, "invgauss", "inverse_gaussian", list(mean = mean(x), shape = 1))

versions <- sapply(c("MASS", "survival", "fitdistrplus", "actuar", "statmod"),
                   function(p) as.character(packageVersion(p)))
write_json(list(r_version = R.version.string, packages = as.list(versions), results = results),
           file.path(out, "families_r.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("families_r.R: wrote", length(results), "references to", out, "\n")
