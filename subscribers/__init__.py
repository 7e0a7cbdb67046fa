"""The subscriber domain: model, store, import/export, tokens, preferences, suppression.

Its narrow store interface is what ``digest`` reads an edition's audience through. The
package is part of the layout from the start; its contents arrive with the subscribers issue.
"""
