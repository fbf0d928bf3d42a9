# flexmix's constrained Gaussian regressions: the reference side of benchmarks/constraints_flexmix.py.
#
# Usage: Rscript benchmarks/constraints_flexmix.R --out DIR
#
# flexmix's NPreg (Leisch 2004), K = 2, constant mixing weights, every fit started from
# NPreg's own class (cluster = class).  NPreg is exported at run time to DIR/npreg_fix.csv
# (do not commit: flexmix is GPL) with 17 significant digits.
#
# Fits (control: tolerance 1e-12, iter.max 5000, flexmix's default minprior):
#   fix_tied    yn ~ I(x^2), FLXMRglmfix(fixed = ~ x, varFix = TRUE)
#   fix_free    yn ~ I(x^2), FLXMRglmfix(fixed = ~ x, varFix = FALSE)
#   tied        yn ~ x + I(x^2), FLXMRglmfix(varFix = TRUE)
# each twice: flexmix as it is ("flexmix"), and with the model's M-step (its `fit` slot)
# copied with one change, the maximum-likelihood sigma sqrt(sum(w r^2) / sum(w)) in place of
# flexmix's residual-df one sqrt(sum(w r^2) / mean(w) / (n_rows - n_coef)) ("flexmix, ML sigma").
# Writes DIR/constraints_flexmix.json: per fit the log-likelihood, df, iterations, each
# component's coefficients (intercept, x, x^2) and sigma, the prior, with R's and
# flexmix's versions.
suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2 || args[1] != "--out") stop("usage: constraints_flexmix.R --out DIR")
out <- args[2]
dir.create(out, recursive = TRUE, showWarnings = FALSE)

data("NPreg", package = "flexmix")
d <- NPreg
exported <- data.frame(x = d$x, yn = d$yn, class = d$class)
exported[] <- lapply(exported, function(v) if (is.double(v)) sprintf("%.17g", v) else v)
write.csv(exported, file.path(out, "npreg_fix.csv"), row.names = FALSE, quote = FALSE)

# flexmix's FLXMRglmfix Gaussian M-step with the maximum-likelihood sigma
ml_sigma <- function(model) {
  model@fit <- function(x, y, w, incidence, variance, ...) {
    fit <- lm.wfit(x, y, w = w)
    k <- nrow(incidence)
    n <- nrow(x) / k
    sigma <- vector(length = k)
    cumVar <- cumsum(c(0, variance))
    for (i in seq_along(variance)) {
      ind <- cumVar[i] * n + seq_len(n * variance[i])
      sigma[cumVar[i] + seq_len(variance[i])] <- sqrt(sum(fit$weights[ind] * fit$residuals[ind]^2) /
                                                        sum(fit$weights[ind]))
    }
    coefs <- coef(fit)
    names(coefs) <- colnames(incidence)
    df <- rowSums(incidence / rep(colSums(incidence), each = nrow(incidence))) + rep(1 / variance, variance)
    lapply(seq_len(k), function(K) model@defineComponent(list(coef = coefs[as.logical(incidence[K, ])],
                                                              sigma = sigma[K], df = df[K])))
  }
  model
}

# each component's (intercept, x, x^2) from flexmix's parameters, whatever their names
describe <- function(name, variant, m) {
  p <- parameters(m)
  k <- length(m@size)
  coef_of <- function(j) {
    v <- p[, j]
    get <- function(pattern) { hit <- grep(pattern, names(v)); if (length(hit)) v[[hit[1]]] else 0 }
    c(get("Intercept"), get("^coef\\.x$"), get("I\\(x\\^2\\)"))
  }
  list(
    name = name, variant = variant, loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
    iter = m@iter, converged = m@converged, k = k,
    coef = unname(lapply(seq_len(k), coef_of)), sigma = as.numeric(p["sigma", ]),
    prior = as.numeric(m@prior), names = rownames(p)
  )
}

control <- list(tolerance = 1e-12, iter.max = 5000)
models <- list(
  fix_tied = list(yn ~ I(x^2), function() FLXMRglmfix(fixed = ~ x, varFix = TRUE)),
  fix_free = list(yn ~ I(x^2), function() FLXMRglmfix(fixed = ~ x, varFix = FALSE)),
  tied = list(yn ~ x + I(x^2), function() FLXMRglmfix(varFix = TRUE))
)
fits <- list()
for (name in names(models)) {
  spec <- models[[name]]
  for (variant in c("flexmix", "flexmix, ML sigma")) {
    model <- spec[[2]]()
    if (variant != "flexmix") model <- ml_sigma(model)
    m <- flexmix(spec[[1]], data = d, k = 2, cluster = d$class, model = model, control = control)
    fits[[length(fits) + 1]] <- describe(name, variant, m)
  }
}
write_json(list(fits = fits, R = R.version.string, flexmix = as.character(packageVersion("flexmix"))),
           file.path(out, "constraints_flexmix.json"), digits = NA, auto_unbox = TRUE)
