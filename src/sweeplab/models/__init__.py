"""Models: the layer table, model building and its pure functions, the Keras-style summary.

A trial configuration's model (``model_for``) is built by :mod:`sweeplab.trial`, and
predictions of stored trials come from :mod:`sweeplab.inference`: both sit above this
package, which imports nothing from the engine, the store or the spec.
"""
