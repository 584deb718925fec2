"""Azure: Microsoft Entra ID (Azure AD) credentials for Azure OpenAI and other Azure APIs.

One module per mechanism; `client_secret` is the app-registration secret, `workload_identity`
the AKS federated token file and `client_certificate` the app's certificate (all three the
client-credentials grant, `_confidential`), `cli` the developer's `az login` (through `az account get-access-token`), `managed_identity` the identity
Azure assigns to a VM, App Service or container (IMDS, App Service). `default_chain()`
picks the first of them this machine is set up for and says why.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._lazy import attach as _attach

if _TYPE_CHECKING:
    from ._chain import default_chain
    from .cli import AzureCliCredentialProvider
    from .client_certificate import ClientCertificateCredentialProvider
    from .client_secret import AzureAdCredentialProvider
    from .managed_identity import ManagedIdentityCredentialProvider
    from .workload_identity import WorkloadIdentityCredentialProvider

__getattr__, __dir__ = _attach(__name__, {
    "AzureAdCredentialProvider": ".client_secret",
    "AzureCliCredentialProvider": ".cli",
    "ClientCertificateCredentialProvider": ".client_certificate",
    "ManagedIdentityCredentialProvider": ".managed_identity",
    "WorkloadIdentityCredentialProvider": ".workload_identity",
    "default_chain": "._chain",
})

__all__ = [
    "AzureAdCredentialProvider",
    "AzureCliCredentialProvider",
    "ClientCertificateCredentialProvider",
    "ManagedIdentityCredentialProvider",
    "WorkloadIdentityCredentialProvider",
    "default_chain",
]
